import HandoffControlProtocol
import HandoffDataPlane

/// The engine's answers: one call per event that asks for one. Each checks the ticket's state and the blocks,
/// then reports to the coordinator. An answer that throws changes nothing; `unknownTicket` means the ticket is over
/// and blocks the engine still holds for it are its own to free.
extension ConnectorRuntime {
    /// Prefill began computing the ticket (optional; it dates the prefill in the TTFT account).
    /// - Throws: `ConnectorError.unknownTicket` when the ticket is not being computed.
    public func prefillStarted(ticket: String) throws(ConnectorError) {
        let known = book.withLock { book in
            if case .computing = book.prefill[ticket] { return true }
            return false
        }
        guard known else { throw .unknownTicket(ticket, expected: "a prefill being computed") }
        session.report(.prefillStarted, ticket: ticket)
    }

    /// Prefill is done: `blocks` hold the prompt's KV in token order. The runtime grants them to the decode side
    /// and holds them until decode confirms or the lease ends; `release` then hands them back.
    ///
    /// - Throws: `ConnectorError.unknownTicket`, `.invalidBlocks` (count other than ordered, an id outside the
    ///   pool, a repeat), `.dataPlane` when the grant fails.
    public func prefillDone(ticket: String, blocks: [Int]) throws(ConnectorError) {
        let (order, push) = try book.withLock {
            (book) throws(ConnectorError) -> (PrefillOrder, TicketBook.Push?) in
            guard case .computing(let order) = book.prefill[ticket] else {
                throw .unknownTicket(ticket, expected: "a prefill being computed")
            }
            return (order, book.pushes[ticket])
        }
        try checkBlocks(blocks, count: order.blocks, ticket: ticket)
        if let push, !push.writes.isEmpty, !push.finished {
            throw .invalidArgument("ticket \(ticket): call finishPush before prefillDone; layers of it were pushed")
        }
        let grant = AccessGrant(pool: pool, operation: .read, blocks: blocks)
        do {
            try transport.grant(grant)
        } catch {
            throw .dataPlane(error)
        }
        let held = book.withLock { book in
            guard case .computing = book.prefill[ticket] else { return false }
            book.prefill[ticket] = .held(blocks: blocks, grant: grant.token, leaseEnds: .now + order.lease)
            book.pushes[ticket] = nil  // finished: its writes are over
            return true
        }
        guard held else {
            // Released while the grant was made: nobody may use it.
            Task { [transport] in await transport.revoke(grant.token) }
            throw .unknownTicket(ticket, expected: "a prefill being computed")
        }
        session.report(.prefillDone(sourceBlocks: blocks, grant: grant.token), ticket: ticket)
    }

    /// Decode reserved `blocks` (token order) for the ticket; the pull writes into them. When the engine already
    /// holds the prompt's first `cachedBlocks` blocks (its prefix cache), `blocks` are for the rest, and only the
    /// rest moves.
    /// - Throws: `ConnectorError.unknownTicket`, `.invalidBlocks` (also for `cachedBlocks` outside
    ///   0 ..< the ticket's blocks).
    public func reserved(ticket: String, blocks: [Int], cachedBlocks: Int = 0) throws(ConnectorError) {
        try book.withLock { (book) throws(ConnectorError) in
            guard case .reserving(let count) = book.decode[ticket] else {
                throw .unknownTicket(ticket, expected: "waiting for a reservation")
            }
            guard cachedBlocks >= 0, cachedBlocks < count else {
                throw .invalidBlocks(
                    ticket: ticket, reason: "\(cachedBlocks) cached blocks of \(count): at least one block must move")
            }
            try checkBlocks(blocks, count: count - cachedBlocks, ticket: ticket)
            book.decode[ticket] = .reserved(blocks)
        }
        let grant = grantWrite(ticket: ticket, blocks: blocks)
        session.report(.reserved(destinationBlocks: blocks, cachedBlocks: cachedBlocks, grant: grant), ticket: ticket)
    }

    /// Decode cannot reserve blocks for the ticket; the coordinator fails or retries it.
    /// - Throws: `ConnectorError.unknownTicket`.
    public func reserveFailed(ticket: String, reason: String) throws(ConnectorError) {
        try book.withLock { (book) throws(ConnectorError) in
            guard case .reserving = book.decode[ticket] else {
                throw .unknownTicket(ticket, expected: "waiting for a reservation")
            }
            book.decode[ticket] = nil
        }
        session.report(.transferFailed(reason: String(reason.prefix(1024))), ticket: ticket)
    }

    /// Decode took the loaded KV; the blocks now belong to the request. `verified`: the engine checked the content
    /// and found it intact (false: a mismatch, and the load fails); `checked` false: the engine had nothing to
    /// check it against (a real engine's KV), the load counts as done and the account says it was not verified.
    /// - Throws: `ConnectorError.unknownTicket` when no load is waiting for this answer.
    public func transferDone(ticket: String, verified: Bool, checked: Bool = true) throws(ConnectorError) {
        let stats = try book.withLock { (book) throws(ConnectorError) -> TransferStats in
            guard case .loaded(_, let stats) = book.decode[ticket] else {
                throw .unknownTicket(ticket, expected: "loaded")
            }
            book.decode[ticket] = nil
            return stats
        }
        session.report(.transferDone(stats, verified: verified, checked: checked), ticket: ticket)
    }

    /// Decode produced the ticket's first token; `decodeSeconds` is the step as the engine measured it.
    /// - Throws: `ConnectorError.invalidArgument` for a negative or non-finite time or an empty ticket.
    public func firstToken(ticket: String, decodeSeconds: Double) throws(ConnectorError) {
        guard !ticket.isEmpty, ticket.utf8.count <= 256 else { throw .invalidArgument("a ticket id is 1 to 256 bytes") }
        guard decodeSeconds.isFinite, decodeSeconds >= 0 else {
            throw .invalidArgument("decode seconds must be finite and not negative, got \(decodeSeconds)")
        }
        session.report(.firstToken(decodeSeconds: decodeSeconds), ticket: ticket)
    }

    /// Checks that `blocks` are `count` distinct ids of the pool.
    private func checkBlocks(_ blocks: [Int], count: Int, ticket: String) throws(ConnectorError) {
        guard blocks.count == count else {
            throw .invalidBlocks(ticket: ticket, reason: "\(blocks.count) blocks where \(count) were asked for")
        }
        let numBlocks = pool.layout.numBlocks
        var seen = Set<Int>(minimumCapacity: blocks.count)
        for (index, block) in blocks.enumerated() {
            guard block >= 0, block < numBlocks else {
                throw .invalidBlocks(
                    ticket: ticket, reason: "block \(block) at index \(index) is outside the pool's 0..<\(numBlocks)")
            }
            guard seen.insert(block).inserted else {
                throw .invalidBlocks(ticket: ticket, reason: "block \(block) appears twice")
            }
        }
    }
}
