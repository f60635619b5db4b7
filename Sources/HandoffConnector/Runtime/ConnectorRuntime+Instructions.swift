import HandoffControlProtocol
import HandoffDataPlane
import Tracing

extension ConnectorRuntime {
    /// Handles one instruction from the coordinator, in order.
    func handle(_ instruction: WorkerInstruction) async {
        switch instruction {
        case .registered:
            await events.push(.registered(instance: registration.identity.instance))
        case .peerUp(let peer):
            await peers.peerUp(peer)
        case .peerDown(let identity, let reason):
            await peers.peerDown(identity, reason: reason)
        case .prefill(let order):
            await admit(order)
        case .reserve(let ticket, let blocks, let push):
            await reserve(ticket: ticket, blocks: blocks, push: push)
        case .pushTarget(let target):
            acceptPushTarget(target)
        case .pull(let order):
            if let pushed = order.pushed {
                await land(order, stats: pushed)
            } else {
                startPull(order)
            }
        case .release(let ticket, let reason):
            await release(ticket: ticket, reason: reason)
        case .rejected(let ticket, let code, let message):
            logger.warning(
                "the coordinator refused a report",
                metadata: ["ticket": "\(ticket)", "code": "\(code)", "message": "\(message)"])
        }
    }

    private func admit(_ order: PrefillOrder) async {
        let fresh = book.withLock { book in
            guard book.prefill[order.ticket] == nil else { return false }
            book.prefill[order.ticket] = .computing(order)
            return true
        }
        guard fresh else {
            logger.warning("ignoring a repeated prefill order", metadata: ["ticket": "\(order.ticket)"])
            return
        }
        await events.push(.prefill(order))
    }

    private func reserve(ticket: String, blocks count: Int, push: Bool) async {
        guard count > 0, count <= pool.layout.numBlocks else {
            let error = KVConnectorError.noFreeBlocks(needed: count, free: pool.layout.numBlocks)
            session.report(.transferFailed(reason: error.description), ticket: ticket)
            return
        }
        let fresh = book.withLock { book in
            guard book.decode[ticket] == nil else { return false }
            book.decode[ticket] = .reserving(count: count)
            if push { book.pushReservations.insert(ticket) }
            return true
        }
        guard fresh else {
            logger.warning("ignoring a repeated reservation", metadata: ["ticket": "\(ticket)"])
            return
        }
        await events.push(.reserve(ticket: ticket, blocks: count))
    }

    private func startPull(_ order: PullOrder) {
        let accepted = book.withLock { book in
            guard case .reserved(let blocks) = book.decode[order.ticket], blocks == order.destinationBlocks else {
                return false
            }
            book.decode[order.ticket] = .pulling(blocks, transfer: nil)
            return true
        }
        guard accepted else {
            let error = KVConnectorError.unreservedDestination(ticket: order.ticket)
            session.report(.transferFailed(reason: error.description), ticket: order.ticket)
            return
        }
        pullOrders.yield(order)
    }

    /// Runs pull orders, at most `maxConcurrentPulls` at once.
    func pullLoop() async {
        let limit = max(1, configuration.maxConcurrentPulls)
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await order in pullQueue {
                if running >= limit {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.pull(order) }
                running += 1
            }
        }
    }

    private enum PullOutcome {
        case loaded([Int], TransferStats)
        case failed(String)
        case released(String)
        case forgotten
    }

    /// Pulls one ticket's KV; a release while it runs cancels it and reaches the engine once the data plane has
    /// stopped writing into the blocks.
    private func pull(_ order: PullOrder) async {
        let span = OrderSpan.start("handoff.pull", under: order.traceparent)
        span?.attributes["handoff.ticket"] = order.ticket
        span?.attributes["handoff.prefill.worker"] = order.source.description
        span?.attributes["handoff.kv.blocks"] = order.destinationBlocks.count
        defer { span?.end() }
        await revokeWriteGrant(order.ticket)  // a push-mode ticket whose prefill declined: its writes are over
        let puller = self.puller
        let window = configuration.pullWindow
        let transfer = Task { try await puller.pull(order, window: window) }
        let stillWanted = book.withLock { book in
            guard case .pulling(let blocks, _) = book.decode[order.ticket] else { return false }
            book.decode[order.ticket] = .pulling(blocks, transfer: transfer)
            return true
        }
        if !stillWanted { transfer.cancel() }
        let result = await withTaskCancellationHandler {
            await transfer.result
        } onCancel: {
            transfer.cancel()
        }
        let outcome: PullOutcome = book.withLock { book in
            switch book.decode[order.ticket] {
            case .pulling(let blocks, _):
                switch result {
                case .success(let stats):
                    book.decode[order.ticket] = .loaded(blocks, stats)
                    return .loaded(blocks, stats)
                case .failure(let error):
                    book.decode[order.ticket] = .failed(blocks)
                    return .failed("\(error)")
                }
            case .releasing(_, let reason):
                book.decode[order.ticket] = nil
                return .released(reason)
            default:
                return .forgotten
            }
        }
        switch outcome {
        case .loaded(_, let stats):
            if let span { stats.record(on: span) }
            await events.push(.loaded(order, stats: stats))
        case .failed(let reason):
            span?.setStatus(SpanStatus(code: .error, message: reason))
            logger.warning("pull failed", metadata: ["ticket": "\(order.ticket)", "error": "\(reason)"])
            session.report(.transferFailed(reason: reason), ticket: order.ticket)
            await events.push(.loadFailed(ticket: order.ticket, reason: reason, traceparent: order.traceparent))
        case .released(let reason):
            logger.info("pull cancelled: the ticket was released", metadata: ["ticket": "\(order.ticket)"])
            await events.push(.release(ticket: order.ticket, reason: reason))
        case .forgotten:
            break
        }
    }

    private enum ReleaseStep {
        case none
        case tell
        case revokeThenTell(UInt64)
        /// Prefill: stop the ticket's push writes first.
        case stopPushThenTell
        /// Decode: revoke the push's WRITE grant first, and keep the blocks until `until` when writes cannot be
        /// stopped.
        case revokeWriteThenTell(UInt64, until: ContinuousClock.Instant?)
    }

    /// Ends a ticket: a prefill grant is revoked (waiting for requests served under it) and a running pull
    /// stopped before the engine is told to free the blocks.
    func release(ticket: String, reason: String) async {
        let step: ReleaseStep = book.withLock { book in
            if let prefill = book.prefill.removeValue(forKey: ticket) {
                switch prefill {
                case .computing: return book.pushes[ticket] == nil ? .tell : .stopPushThenTell
                case .held(_, let grant, _): return .revokeThenTell(grant)
                }
            }
            book.pushReservations.remove(ticket)
            guard let decode = book.decode[ticket] else { return .none }
            switch decode {
            case .pulling(let blocks, let transfer):
                book.decode[ticket] = .releasing(blocks, reason: reason)
                transfer?.cancel()
                return .none  // the pull tells the engine once it has stopped
            case .releasing:
                return .none
            case .reserving, .reserved, .loaded, .failed:
                book.decode[ticket] = nil
                if let grant = book.writeGrants.removeValue(forKey: ticket) {
                    return .revokeWriteThenTell(grant.token, until: quarantineEnd(of: grant))
                }
                return .tell
            }
        }
        switch step {
        case .none:
            return
        case .tell:
            break
        case .revokeThenTell(let grant):
            await transport.revoke(grant)
        case .stopPushThenTell:
            await stopPush(ticket)
        case .revokeWriteThenTell(let grant, let until):
            await transport.revoke(grant)
            if let until, until > .now {
                logger.info(
                    "push ended before its KV landed; blocks stay reserved until no write can come",
                    metadata: ["ticket": "\(ticket)", "seconds": "\((until - .now).seconds)"])
                let events = events
                Task {
                    try? await Task.sleep(until: until)
                    await events.push(.release(ticket: ticket, reason: reason))
                }
                return
            }
        }
        logger.debug("released", metadata: ["ticket": "\(ticket)", "reason": "\(reason)"])
        await events.push(.release(ticket: ticket, reason: reason))
    }

    /// Releases every ticket: the coordinator that issued them is gone, or the runtime stops.
    func releaseAll(reason: String) async {
        for ticket in book.withLock({ $0.tickets }) {
            await release(ticket: ticket, reason: reason)
        }
    }

    /// Frees prefill blocks whose lease ended before decode confirmed.
    func leaseLoop() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let (expired, next) = book.withLock { book in
                var expired: [String] = []
                var next = now + .milliseconds(100)
                for (ticket, state) in book.prefill {
                    guard case .held(_, _, let leaseEnds) = state else { continue }
                    if leaseEnds <= now { expired.append(ticket) } else { next = min(next, leaseEnds) }
                }
                return (expired, next)
            }
            for ticket in expired {
                logger.warning(
                    "lease expired before decode confirmed; blocks released", metadata: ["ticket": "\(ticket)"])
                await release(ticket: ticket, reason: "the lease expired before decode confirmed")
            }
            try? await Task.sleep(until: next)
        }
    }
}
