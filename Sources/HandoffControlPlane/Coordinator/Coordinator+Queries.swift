import HandoffControlProtocol

extension Coordinator {
    /// The account of a request in flight or on record.
    ///
    /// - Throws: `.notFound` for an id never admitted (or no longer retained).
    public func account(of requestID: String) throws(CoordinatorError) -> RequestAccount {
        if let ticketID = activeRequests[requestID], let ticket = tickets[ticketID] { return ticket.account() }
        if let waiting = awaitingPair[requestID] {
            return waiting.failed.account(
                state: .awaitingPair, failure: "\(waiting.reason); waiting for a pair to recompute on")
        }
        if let account = accounts[requestID] { return account }
        throw .notFound("unknown request \(requestID)")
    }

    /// Waits until the request is done, failed or expired and returns its account; nil if the task is cancelled.
    ///
    /// - Throws: `.notFound` for an id never admitted.
    public func outcome(of requestID: String) async throws(CoordinatorError) -> RequestAccount? {
        if let account = accounts[requestID] { return account }
        guard activeRequests[requestID] != nil || awaitingPair[requestID] != nil else {
            throw .notFound("unknown request \(requestID)")
        }
        let account = await wait(for: requestID, reservation: false)
        try requireLeadership()
        return account
    }

    /// Waits until the request's decode worker has reserved its blocks (`reserved` in the account), or the request
    /// ended; its account then, or nil if the task is cancelled.
    ///
    /// - Throws: `.notFound` for an id never admitted.
    public func reservation(of requestID: String) async throws(CoordinatorError) -> RequestAccount? {
        let current = try account(of: requestID)
        if current.reserved || current.state.isFinal { return current }
        let account = await wait(for: requestID, reservation: true)
        try requireLeadership()
        return account
    }

    private func wait(for requestID: String, reservation: Bool) async -> RequestAccount? {
        nextWaiter += 1
        let waiter = nextWaiter
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RequestAccount?, Never>) in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else if reservation {
                    reservationWaiters[requestID, default: [:]][waiter] = continuation
                } else {
                    waiters[requestID, default: [:]][waiter] = continuation
                }
            }
        } onCancel: {
            Task { await self.dropWaiter(requestID, waiter) }
        }
    }

    private func dropWaiter(_ requestID: String, _ waiter: UInt64) {
        waiters[requestID]?.removeValue(forKey: waiter)?.resume(returning: nil)
        if waiters[requestID]?.isEmpty == true { waiters[requestID] = nil }
        reservationWaiters[requestID]?.removeValue(forKey: waiter)?.resume(returning: nil)
        if reservationWaiters[requestID]?.isEmpty == true { reservationWaiters[requestID] = nil }
    }

    /// Wakes the callers waiting for the request's reservation with its account.
    func wakeReservationWaiters(_ account: RequestAccount) {
        guard let waiting = reservationWaiters.removeValue(forKey: account.requestID) else { return }
        for continuation in waiting.values { continuation.resume(returning: account) }
    }

    /// Every worker instance the coordinator knows (the latest instance of each id).
    public func workerStatuses() -> [WorkerStatus] {
        let time = now()
        return workers.values.sorted { $0.identity.id < $1.identity.id }.map { record in
            WorkerStatus(
                registration: record.registration, live: record.live, lostReason: record.lostReason,
                lostGracefully: record.lostGracefully,
                freeBlocks: record.effectiveFree, queueDepth: record.queueDepth, inFlight: record.inFlight,
                secondsSinceHeartbeat: Double(time &- record.lastHeartbeat) / 1e9)
        }
    }

    /// Worker pairs that have carried tickets, with the counts in flight and completed.
    public func pairStatuses() -> [PairStatus] {
        pairs.sorted { ($0.key.prefill, $0.key.decode) < ($1.key.prefill, $1.key.decode) }.map {
            PairStatus(
                prefill: $0.key.prefill, decode: $0.key.decode, inFlight: $0.value.inFlight,
                completed: $0.value.completed)
        }
    }

    /// Totals and rolling percentiles.
    public func aggregates() -> CoordinatorAggregates {
        CoordinatorAggregates(
            admitted: totals.admitted, done: totals.done, failed: totals.failed, expired: totals.expired,
            recomputed: totals.recomputed, components: componentWindows.mapValues { $0.summary() },
            decisionSeconds: decisionWindow.summary(), kvBytes: totals.kvBytes, transports: totals.transports)
    }

    /// Requests in flight: tickets, and requests waiting for a pair to recompute on.
    public var inFlight: Int { tickets.count + awaitingPair.count }
}

/// A worker as queries report it.
public struct WorkerStatus: Sendable, Hashable {
    public var registration: WorkerRegistration
    public var live: Bool
    public var lostReason: String
    /// Whether its session ended in an orderly way (the worker or the coordinator shut down).
    public var lostGracefully: Bool
    public var freeBlocks: Int
    public var queueDepth: Int
    public var inFlight: Int
    public var secondsSinceHeartbeat: Double
}

/// A prefill/decode pair that has carried tickets (Encodable for the live view's snapshot).
public struct PairStatus: Sendable, Hashable, Encodable {
    public var prefill: String
    public var decode: String
    public var inFlight: Int
    public var completed: Int
}
