import HandoffControlProtocol

extension Coordinator {
    /// Applies a worker's report about a ticket.
    ///
    /// - Throws: `.notFound` for an unknown (or finished) ticket; `.permissionDenied` when `sender` is not the
    ///   ticket's worker for that report; `.failedPrecondition` when the ticket is in the wrong state;
    ///   `.invalidArgument` / `.outOfRange` for a bad block list or transfer report. The ticket is unchanged then.
    public func report(
        _ event: ProgressEvent, ticket ticketID: String, from sender: WorkerIdentity
    ) throws(CoordinatorError) {
        try requireLeadership()
        guard var ticket = tickets[ticketID] else {
            throw .notFound("unknown ticket \(ticketID) (never issued, or already finished)")
        }
        let owner = event.sender == .prefill ? ticket.prefill : ticket.decode
        guard sender == owner else {
            // Names the worker, not its instance: the message must not tell a forger what to claim.
            throw .permissionDenied(
                "\(event.name) for ticket \(ticketID) must come from its \(event.sender.rawValue) worker \(owner.id), not \(sender.id)"
            )
        }
        let time = now()
        switch event {
        case .prefillStarted:
            try expect(ticket, in: [.admitted], for: event)
            ticket.state = .prefilling
            ticket.timeline.prefillStarted = time
            ticket.deadline = time + configuration.prefillTimeout.nanoseconds
            tickets[ticketID] = ticket
        case .prefillDone where ticket.pushed:
            // The KV is already with decode: the prefill blocks are not needed, whatever becomes of the load.
            try expect(ticket, in: [.transferring, .decoding], for: event)
            if let prefill = workers[ticket.prefill.id], prefill.identity == ticket.prefill {
                prefill.send(.release(ticket: ticketID, reason: "the KV was pushed to decode"))
            }
            tickets[ticketID]?.prefillReleased = true
        case .prefillDone(let sourceBlocks, let grant):
            try expect(ticket, in: [.admitted, .prefilling], for: event)
            try checkBlocks(sourceBlocks, of: ticket, in: ticket.prefill, what: "source")
            if ticket.timeline.prefillStarted == nil { ticket.timeline.prefillStarted = time }
            ticket.timeline.prefillDone = time
            ticket.sourceBlocks = sourceBlocks
            ticket.sourceGrant = grant
            ticket.state = .ready
            ticket.deadline = time + configuration.reserveTimeout.nanoseconds
            ticket.leaseDeadline = time + configuration.lease.nanoseconds
            workers[ticket.prefill.id]?.pendingBlocks -= ticket.blocks
            workers[ticket.prefill.id]?.reportedFree -= ticket.blocks
            tickets[ticketID] = ticket
            issuePullIfReady(ticketID)
            recordDecision(nanoseconds: now() - time)
        case .reserved(let destinationBlocks, let cachedBlocks, let grant):
            try expect(ticket, in: [.admitted, .prefilling, .ready], for: event)
            if ticket.destinationBlocks != nil {
                throw .failedPrecondition("ticket \(ticketID) already has destination blocks")
            }
            guard cachedBlocks >= 0, cachedBlocks < ticket.blocks else {
                throw .invalidArgument(
                    "ticket \(ticketID): \(cachedBlocks) cached blocks, the prompt has \(ticket.blocks) (at least one must move)"
                )
            }
            try checkBlocks(
                destinationBlocks, count: ticket.blocks - cachedBlocks, of: ticket, in: ticket.decode,
                what: "destination")
            ticket.destinationBlocks = destinationBlocks
            ticket.timeline.reserved = now()
            ticket.cachedBlocks = cachedBlocks
            ticket.destinationGrant = grant
            workers[ticket.decode.id]?.pendingBlocks -= ticket.blocks
            workers[ticket.decode.id]?.reportedFree -= ticket.blocks
            tickets[ticketID] = ticket
            sendPushTargetIfWanted(ticketID)
            issuePullIfReady(ticketID)
            wakeReservationWaiters(ticket.account())
        case .pushDone(let stats, let exposedSeconds):
            try expect(ticket, in: [.admitted, .prefilling], for: event)
            guard ticket.pushTargetSent, let destination = ticket.destinationBlocks else {
                throw .failedPrecondition("ticket \(ticketID) was given no push target")
            }
            try checkTransfer(stats, of: ticket)
            guard exposedSeconds.isFinite, exposedSeconds >= 0, exposedSeconds <= Self.longestReportedSeconds else {
                throw .invalidArgument("ticket \(ticketID): exposed push seconds must be finite, 0 to 1 day")
            }
            if ticket.timeline.prefillStarted == nil { ticket.timeline.prefillStarted = time }
            ticket.timeline.prefillDone = time
            ticket.timeline.pushExposed = UInt64(exposedSeconds * 1e9)
            ticket.timeline.pullSent = time
            ticket.transfer = stats
            ticket.pushed = true
            ticket.state = .transferring
            ticket.deadline = time + configuration.transferTimeout.nanoseconds
            tickets[ticketID] = ticket
            workers[ticket.decode.id]?.send(
                .pull(
                    PullOrder(
                        ticket: ticketID, source: ticket.prefill, sourceDescriptor: [], sourceBlocks: [],
                        destinationBlocks: destination, contentSeed: ticket.contentSeed,
                        promptTokens: ticket.request.promptTokens, timeout: configuration.transferTimeout * 0.9,
                        pushed: stats, traceparent: ticket.trace?.traceparent ?? "")))
        case .transferDone(let stats, let verified, let checked):
            try expect(ticket, in: [.transferring], for: event)
            try checkTransfer(stats, of: ticket)
            guard verified || !checked else {
                metrics.transferFailed()
                loadFailed(ticketID, reason: "decode worker \(sender) found the pulled KV did not match")
                return
            }
            ticket.timeline.transferDone = time
            ticket.timeline.kvTransferMeasured = UInt64(stats.totalSeconds * 1e9)
            ticket.transfer = stats
            ticket.verified = verified && checked
            ticket.state = .decoding
            ticket.deadline = time + configuration.firstTokenTimeout.nanoseconds
            tickets[ticketID] = ticket
            releasePrefill(ticketID, reason: "decode confirmed the transfer")
            metrics.transferred(stats)
            metrics.pairTransferred(prefill: ticket.prefill.id, decode: ticket.decode.id, bytes: stats.bytes)
        case .transferFailed(let reason):
            try expect(ticket, in: [.admitted, .prefilling, .ready, .transferring], for: event)
            metrics.transferFailed()
            loadFailed(ticketID, reason: "decode worker \(sender) could not load the KV: \(reason)")
        case .firstToken(let decodeSeconds):
            try expect(ticket, in: [.decoding], for: event)
            if !(decodeSeconds >= 0 && decodeSeconds.isFinite) {
                throw .invalidArgument("ticket \(ticketID): decode seconds must be finite and non-negative")
            }
            ticket.timeline.firstToken = time
            tickets[ticketID] = ticket
            finish(ticketID, as: .done, reason: "")
        }
    }

    /// Applies a report sent outside the worker's session (the unary `Report`), which proves its sender with the
    /// report key of the sender's registration.
    ///
    /// - Throws: `.permissionDenied` when `sender` is not a registered, live worker holding `reportKey`; otherwise as
    ///   `report(_:ticket:from:)`.
    public func report(
        _ event: ProgressEvent, ticket ticketID: String, from sender: WorkerIdentity, reportKey: UInt64
    ) throws(CoordinatorError) {
        try requireLeadership()
        guard let record = workers[sender.id], record.live, record.identity == sender,
            reportKey != 0, record.reportKey == reportKey
        else {
            throw .permissionDenied(
                "a report outside the worker's session must carry the report key of its registration (worker \(sender.id))"
            )
        }
        try report(event, ticket: ticketID, from: sender)
    }

    /// Reports carry at most a day in any one time.
    static let longestReportedSeconds = 86_400.0

    /// A transfer report must move exactly the ticket's moved blocks, in finite, non-negative time.
    private func checkTransfer(_ stats: TransferStats, of ticket: Ticket) throws(CoordinatorError) {
        let moved = ticket.blocks - ticket.cachedBlocks
        let expectedBytes = moved * (workers[ticket.decode.id]?.registration.layout.blockBytes ?? 0)
        if stats.bytes != expectedBytes {
            throw .invalidArgument(
                "ticket \(ticket.id): transfer moved \(stats.bytes) B, but \(moved) blocks are \(expectedBytes) B")
        }
        if !(stats.postSeconds >= 0 && stats.completionSeconds >= 0
            && stats.totalSeconds <= Self.longestReportedSeconds)
        {
            throw .invalidArgument("ticket \(ticket.id): transfer times must be finite, non-negative and under a day")
        }
    }

    /// Push mode: once decode has reserved (and granted) its blocks while prefill has not finished, tells the
    /// prefill worker where to write.
    private func sendPushTargetIfWanted(_ ticketID: String) {
        guard let ticket = tickets[ticketID], ticket.request.transferMode == .push, ticket.destinationGrant != 0,
            !ticket.pushTargetSent, ticket.state == .admitted || ticket.state == .prefilling,
            let destination = ticket.destinationBlocks, let decode = workers[ticket.decode.id],
            decode.identity == ticket.decode
        else { return }
        tickets[ticketID]?.pushTargetSent = true
        workers[ticket.prefill.id]?.send(
            .pushTarget(
                PushTarget(
                    ticket: ticketID, decode: ticket.decode, decodeDescriptor: decode.registration.descriptor,
                    destinationBlocks: destination, cachedBlocks: ticket.cachedBlocks, grant: ticket.destinationGrant,
                    timeout: configuration.transferTimeout * 0.9)))
    }

    private func expect(
        _ ticket: Ticket, in states: Set<TicketState>, for event: ProgressEvent
    ) throws(CoordinatorError) {
        guard states.contains(ticket.state) else {
            throw .failedPrecondition(
                "\(event.name) for ticket \(ticket.id) does not fit its state \(ticket.state.rawValue)")
        }
    }

    /// A block list must have one id per ticket block, each inside the worker's pool, none twice.
    private func checkBlocks(
        _ blocks: [Int], count: Int? = nil, of ticket: Ticket, in worker: WorkerIdentity, what: String
    ) throws(CoordinatorError) {
        let needed = count ?? ticket.blocks
        guard blocks.count == needed else {
            throw .invalidArgument("ticket \(ticket.id): \(blocks.count) \(what) blocks, the prompt needs \(needed)")
        }
        let capacity = workers[worker.id]?.registration.layout.numBlocks ?? 0
        if let bad = blocks.first(where: { $0 < 0 || $0 >= capacity }) {
            throw .outOfRange(
                "ticket \(ticket.id): \(what) block \(bad) is outside worker \(worker.id)'s pool of \(capacity) blocks")
        }
        if Set(blocks).count != blocks.count {
            throw .invalidArgument("ticket \(ticket.id): \(what) block list names a block twice")
        }
    }

    /// Sends the pull once prefill is done and the decode worker has its blocks.
    private func issuePullIfReady(_ ticketID: String) {
        guard var ticket = tickets[ticketID], ticket.state == .ready, let source = ticket.sourceBlocks,
            let destination = ticket.destinationBlocks, let prefill = workers[ticket.prefill.id]
        else { return }
        let time = now()
        ticket.state = .transferring
        ticket.timeline.pullSent = time
        ticket.deadline = time + configuration.transferTimeout.nanoseconds
        tickets[ticketID] = ticket
        workers[ticket.decode.id]?.send(
            .pull(
                PullOrder(
                    ticket: ticketID, source: ticket.prefill, sourceDescriptor: prefill.registration.descriptor,
                    sourceBlocks: Array(source.dropFirst(ticket.cachedBlocks)), destinationBlocks: destination,
                    contentSeed: ticket.contentSeed,
                    promptTokens: ticket.request.promptTokens, timeout: configuration.transferTimeout * 0.9,
                    sourceGrant: ticket.sourceGrant, traceparent: ticket.trace?.traceparent ?? "")))
    }
}
