import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane

/// Push mode. For a push-mode ticket the decode worker reserves (and grants for WRITE) its blocks at admission; the
/// coordinator sends the prefill worker a `PushTarget`, and the prefill engine writes each layer's KV into decode's
/// blocks as soon as it has computed it (`pushLayers`), then waits for the writes after its last layer
/// (`finishPush`). The coordinator tells decode the KV is there, with no pull. A prefill that gets no target before
/// its last layer, or whose write fails, declines: it hands the blocks over with `prefillDone` and decode pulls.
extension ConnectorRuntime {
    /// Push mode, prefill: the KV of every layer up to `lastLayer` is in `blocks` (the ticket's blocks, token order).
    /// Starts writing the layers not written yet to the decode worker's reserved blocks and returns at once.
    ///
    /// - Returns: false, writing nothing, while the ticket has no push target (it may come later) or after its push
    ///   was declined.
    /// - Throws: `ConnectorError.unknownTicket` when the ticket is not being computed, `.invalidBlocks`,
    ///   `.invalidArgument` for a layer outside the layout.
    public func pushLayers(ticket: String, blocks: [Int], through lastLayer: Int) throws(ConnectorError) -> Bool {
        let order = try computingOrder(ticket)
        try checkPushBlocks(blocks, order: order, ticket: ticket)
        let layers = pool.layout.geometry.layers
        guard lastLayer >= 0, lastLayer < layers else {
            throw .invalidArgument("layer \(lastLayer) is outside the layout's 0..<\(layers)")
        }
        return book.withLock { book in
            guard var push = book.pushes[ticket], let target = push.target, !push.declined, !push.finished else {
                return false
            }
            if push.nextLayer <= lastLayer {
                push.started = push.started ?? .now
                push.writes.append(write(blocks, layers: push.nextLayer..<(lastLayer + 1), to: target))
                push.nextLayer = lastLayer + 1
                book.pushes[ticket] = push
            }
            return true
        }
    }

    /// Push mode, prefill: every layer is computed. Writes the layers not written yet, waits for every write and
    /// reports the push, with the time waited here as the part of the transfer left on the time to first token.
    /// Call it before `prefillDone` for a ticket whose layers were pushed.
    ///
    /// - Returns: true when the KV is with decode; false when the ticket had no target or a write failed: the push is
    ///   declined and decode pulls after `prefillDone`.
    /// - Throws: `ConnectorError.unknownTicket` when the ticket is not being computed, `.invalidBlocks`.
    public func finishPush(ticket: String, blocks: [Int]) async throws(ConnectorError) -> Bool {
        let waitStarted = ContinuousClock.now
        let order = try computingOrder(ticket)
        try checkPushBlocks(blocks, order: order, ticket: ticket)
        let lastLayer = pool.layout.geometry.layers - 1
        let pending: (writes: [Task<TransferStats, any Error>], started: ContinuousClock.Instant)? = book.withLock {
            book in
            var push = book.pushes[ticket] ?? TicketBook.Push()
            guard let target = push.target, !push.declined, !push.finished else {
                push.declined = true
                book.pushes[ticket] = push
                return nil
            }
            if push.nextLayer <= lastLayer {
                push.started = push.started ?? .now
                push.writes.append(write(blocks, layers: push.nextLayer..<(lastLayer + 1), to: target))
                push.nextLayer = lastLayer + 1
            }
            push.finished = true
            book.pushes[ticket] = push
            return (push.writes, push.started ?? .now)
        }
        guard let pending else { return false }
        var parts: [TransferStats] = []
        do {
            for write in pending.writes { parts.append(try await write.value) }
        } catch {
            for write in pending.writes { write.cancel() }
            for write in pending.writes { _ = await write.result }
            book.withLock { book in book.pushes[ticket]?.declined = true }
            logger.warning("push failed; decode will pull", metadata: ["ticket": "\(ticket)", "error": "\(error)"])
            return false
        }
        let done = ContinuousClock.now
        guard let stats = TransferStats.combined(parts, wallSeconds: (done - pending.started).seconds) else {
            return false
        }
        let stillComputing = book.withLock { book in
            if case .computing = book.prefill[ticket] { return true }
            return false
        }
        guard stillComputing else { throw .unknownTicket(ticket, expected: "a prefill being computed") }
        session.report(.pushDone(stats, exposedSeconds: (done - waitStarted).seconds), ticket: ticket)
        return true
    }

    /// Starts one WRITE of `layers` of the ticket's blocks (after the cached ones) into the target's blocks.
    private func write(
        _ blocks: [Int], layers: Range<Int>, to target: PushTarget
    ) -> Task<TransferStats, any Error> {
        let (transport, pool, peers, window) = (transport, pool, peers, configuration.pullWindow)
        return Task {
            let peer = try await peers.connection(to: target.decode, descriptor: target.decodeDescriptor)
            let plan = try TransferPlan(
                sourceBlocks: Array(blocks.dropFirst(target.cachedBlocks)), destinationBlocks: target.destinationBlocks,
                source: pool.layout, destination: peer.descriptor.layout, layers: layers)
            let report = try await transport.execute(
                plan, .write, local: pool, remote: peer,
                options: TransferOptions(maxOutstandingOps: window, timeout: target.timeout, grant: target.grant))
            return TransferStats(report)
        }
    }

    private func computingOrder(_ ticket: String) throws(ConnectorError) -> PrefillOrder {
        try book.withLock { (book) throws(ConnectorError) -> PrefillOrder in
            guard case .computing(let order) = book.prefill[ticket] else {
                throw .unknownTicket(ticket, expected: "a prefill being computed")
            }
            return order
        }
    }

    private func checkPushBlocks(_ blocks: [Int], order: PrefillOrder, ticket: String) throws(ConnectorError) {
        guard blocks.count == order.blocks else {
            throw .invalidBlocks(ticket: ticket, reason: "\(blocks.count) blocks where \(order.blocks) were ordered")
        }
        if let bad = blocks.first(where: { $0 < 0 || $0 >= pool.layout.numBlocks }) {
            throw .invalidBlocks(
                ticket: ticket, reason: "block \(bad) is outside the pool's 0..<\(pool.layout.numBlocks)")
        }
    }

    // MARK: Instructions

    /// Prefill: the coordinator says where a push-mode ticket's KV goes. Connects to the decode worker now, off the
    /// compute's path.
    func acceptPushTarget(_ target: PushTarget) {
        let accepted = book.withLock { book in
            guard case .computing(let order) = book.prefill[target.ticket], target.cachedBlocks >= 0,
                target.cachedBlocks + target.destinationBlocks.count == order.blocks
            else { return false }
            var push = book.pushes[target.ticket] ?? TicketBook.Push()
            guard push.target == nil, !push.declined else { return false }
            push.target = target
            book.pushes[target.ticket] = push
            return true
        }
        guard accepted else {
            logger.info(
                "push target not taken (declined, late, or not for this ticket)",
                metadata: ["ticket": "\(target.ticket)"])
            return
        }
        let peers = peers
        Task { _ = try? await peers.connection(to: target.decode, descriptor: target.decodeDescriptor) }
    }

    /// Prefill: ends a ticket's push (released or handed over): stops its writes and waits until none runs.
    func stopPush(_ ticket: String) async {
        guard let push = book.withLock({ $0.pushes.removeValue(forKey: ticket) }) else { return }
        for write in push.writes { write.cancel() }
        for write in push.writes { _ = await write.result }
    }

    /// Decode: the KV of a push-mode ticket is in its reserved blocks; the engine hears `loaded` once the write grant
    /// is revoked.
    func land(_ order: PullOrder, stats: TransferStats) async {
        // The grant leaves the book with the state change: a release that comes meanwhile finds a landed load, whose
        // writes are over, and needs no quarantine.
        let grant: TicketBook.WriteGrant? = book.withLock { book in
            guard case .reserved(let blocks) = book.decode[order.ticket], blocks == order.destinationBlocks,
                let grant = book.writeGrants.removeValue(forKey: order.ticket)
            else { return nil }
            book.decode[order.ticket] = .loaded(blocks, stats)
            return grant
        }
        guard let grant else {
            let error = KVConnectorError.unreservedDestination(ticket: order.ticket)
            session.report(.transferFailed(reason: error.description), ticket: order.ticket)
            return
        }
        await transport.revoke(grant.token)
        await events.push(.loaded(order, stats: stats))
    }

    /// Decode: grants the prefill worker WRITE access to a push-mode ticket's reserved blocks; 0 when the ticket is
    /// not in push mode or the grant fails (then decode pulls).
    func grantWrite(ticket: String, blocks: [Int]) -> UInt64 {
        guard book.withLock({ $0.pushReservations.remove(ticket) != nil }) else { return 0 }
        let grant = AccessGrant(pool: pool, operation: .write, blocks: blocks)
        do {
            try transport.grant(grant)
        } catch {
            logger.warning(
                "cannot grant the push; decode will pull", metadata: ["ticket": "\(ticket)", "error": "\(error)"])
            return 0
        }
        book.withLock { $0.writeGrants[ticket] = TicketBook.WriteGrant(token: grant.token, issued: .now) }
        return grant.token
    }

    /// Decode: ends a ticket's WRITE grant, if it has one.
    func revokeWriteGrant(_ ticket: String) async {
        guard let grant = book.withLock({ $0.writeGrants.removeValue(forKey: ticket) }) else { return }
        await transport.revoke(grant.token)
    }

    /// Decode: when a push-mode ticket ends before its KV landed, until when its blocks must stay reserved.
    ///
    /// Over native TCP the revoked grant stops the prefill worker's writes; one-sided transports (shared memory,
    /// UCX's RDMA) cannot stop them, so the blocks stay out of the engine's hands until the push's own timeout has
    /// surely passed.
    func quarantineEnd(of grant: TicketBook.WriteGrant) -> ContinuousClock.Instant? {
        if transport is TCPTransport { return nil }
        return grant.issued + configuration.pushQuarantine
    }
}
