import HandoffControlProtocol

extension Coordinator {
    /// Admits a request: pairs a prefill and a decode worker, orders the prefill and the decode reservation.
    ///
    /// - Throws: `.unavailable` while shutting down; `.invalidArgument` for an empty id or a non-positive prompt;
    ///   `.alreadyExists` for a request id in flight or still on record; `.resourceExhausted` when no compatible
    ///   pair has room.
    /// - Parameter watcher: when given, hears `.admitted` before this returns and `.finished` when the request ends.
    public func admit(_ request: AdmitRequest, watcher: RequestWatcher? = nil) throws(CoordinatorError) -> Admission {
        let started = now()
        guard admitting else { throw .unavailable("the coordinator is shutting down and admits no new requests") }
        try requireLeadership()
        if request.requestID.isEmpty || request.requestID.utf8.count > 256 {
            throw .invalidArgument("request id must be 1 to 256 bytes long")
        }
        for (name, value) in [("request id", request.requestID), ("node", request.node), ("rack", request.rack)] {
            do {
                try WorkerRegistration.checkPrintable(name, value)
            } catch {
                throw .invalidArgument(error.message)
            }
        }
        if request.model.utf8.count > WorkerRegistration.maxLabelBytes {
            throw .invalidArgument("model must be at most \(WorkerRegistration.maxLabelBytes) bytes")
        }
        if request.promptTokens <= 0 {
            throw .invalidArgument("prompt tokens must be positive, got \(request.promptTokens)")
        }
        if activeRequests[request.requestID] != nil || awaitingPair[request.requestID] != nil
            || accounts[request.requestID] != nil
        {
            throw .alreadyExists("request id \(request.requestID) was already admitted")
        }
        retryAwaitingPairs(at: started)  // requests waiting to recompute come first
        let ticket = try startAttempt(
            request: request, attempt: 1, timeline: TicketTimeline(admitted: started),
            contentSeed: contentSeed(request.requestID))
        totals.admitted += 1
        let decision = now() - started
        recordDecision(nanoseconds: decision)
        let admission = Admission(
            ticket: ticket.id, prefill: ticket.prefill, decode: ticket.decode, blocks: ticket.blocks,
            decisionSeconds: Double(decision) / 1e9,
            prefillEndpoint: workers[ticket.prefill.id]?.registration.endpoint ?? "",
            decodeEndpoint: workers[ticket.decode.id]?.registration.endpoint ?? "")
        if let watcher {
            watchers[request.requestID] = watcher
            watcher(.admitted(requestID: request.requestID, admission))
        }
        return admission
    }

    /// Pairs workers for one attempt, stores the ticket and sends its orders.
    @discardableResult
    func startAttempt(
        request: AdmitRequest, attempt: Int, timeline: TicketTimeline, contentSeed: UInt64,
        avoidPrefill: Set<String> = []
    ) throws(CoordinatorError) -> Ticket {
        let pairingStarted = now()
        guard
            let spec = pairingIndex.anyWorker(serving: request.model).flatMap({ workers[$0.base.identity.id] })?
                .registration.layout
        else {
            throw .resourceExhausted("no live worker serves model \(request.model)")
        }
        let blocks = spec.blocks(forTokens: request.promptTokens)
        let demand = PairingDemand(model: request.model, blocks: blocks, avoidPrefill: avoidPrefill)
        guard let pair = choosePair(demand) else {
            throw .resourceExhausted(
                "no compatible prefill and decode pair for model \(request.model) has \(blocks) free blocks "
                    + "(\(request.promptTokens) tokens)")
        }
        nextTicket += 1
        let time = now()
        var ticket = Ticket(
            id: "\(ticketPrefix)\(nextTicket)", request: request, attempt: attempt, state: .admitted,
            deadline: time + configuration.queueTimeout.nanoseconds, prefill: pair.prefill.identity,
            decode: pair.decode.identity, blocks: blocks, contentSeed: contentSeed, timeline: timeline)
        ticket.trace = RequestTrace.start(
            request, attempt: attempt, at: timeline.admitted,
            clock: WallClockMapping(monotonicNow: time))
        tickets[ticket.id] = ticket
        activeRequests[request.requestID] = ticket.id
        for identity in [ticket.prefill, ticket.decode] {
            workers[identity.id]?.pendingBlocks += blocks
            workers[identity.id]?.inFlight += 1
        }
        let pairKey = PairKey(prefill: ticket.prefill.id, decode: ticket.decode.id)
        if pairs[pairKey] == nil { metrics.paired(prefill: pairKey.prefill, decode: pairKey.decode) }
        pairs[pairKey, default: PairStats()].inFlight += 1
        workers[ticket.prefill.id]?.send(
            .prefill(
                PrefillOrder(
                    ticket: ticket.id, requestID: request.requestID, promptTokens: request.promptTokens, blocks: blocks,
                    contentSeed: contentSeed, lease: configuration.lease, traceparent: ticket.trace?.traceparent ?? ""))
        )
        introduce(ticket.prefill, to: ticket.decode)
        workers[ticket.decode.id]?.send(
            .reserve(ticket: ticket.id, blocks: blocks, push: request.transferMode == .push))
        ticket.trace?.paired(
            prefill: pair.prefill, decode: pair.decode, blocks: blocks, from: pairingStarted, to: now())
        return ticket
    }

    /// The policy's pair: the default policy's from the pairing index; another policy gets the model's live
    /// workers as candidates.
    func choosePair(_ demand: PairingDemand) -> (prefill: PairingCandidate, decode: PairingCandidate)? {
        if policy is DefaultPairingPolicy {
            return pairingIndex.choose(demand).map { ($0.prefill.candidate(), $0.decode.candidate()) }
        }
        let (prefill, decode) = pairingIndex.states(serving: demand.model)
        return policy.choose(demand, prefill: prefill.map { $0.candidate() }, decode: decode.map { $0.candidate() })
    }

    /// The seed of a request's deterministic KV content: FNV-1a of its id.
    func contentSeed(_ requestID: String) -> UInt64 { CompatibilityHash.fnv1a(requestID) }

    func recordDecision(nanoseconds: UInt64) {
        decisionWindow.record(Double(nanoseconds) / 1e9)
        metrics.decision(nanoseconds: nanoseconds)
    }
}

extension Coordinator {
    /// Ends a request whose client gave up: its ticket fails with `reason` and both workers release its blocks;
    /// a request waiting for a pair to recompute on is dropped the same way.
    ///
    /// - Returns: false when the request is not in flight (already over, or never admitted).
    /// - Throws: `.invalidArgument` for an empty or over-long id.
    public func cancel(requestID: String, reason: String) throws(CoordinatorError) -> Bool {
        if requestID.isEmpty || requestID.utf8.count > 256 {
            throw .invalidArgument("request id must be 1 to 256 bytes long")
        }
        try requireLeadership()
        let why = "cancelled: " + (reason.isEmpty ? "the client gave up" : String(reason.prefix(256)))
        if let ticketID = activeRequests[requestID], tickets[ticketID] != nil {
            finish(ticketID, as: .failed, reason: why)
            return true
        }
        if let waiting = awaitingPair.removeValue(forKey: requestID) {
            retire(waiting.failed.account(state: .failed, failure: why))
            return true
        }
        return false
    }
}
