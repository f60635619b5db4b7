import HandoffControlProtocol

extension Coordinator {
    /// Whether this coordinator may act now. A cluster's leader asks its fence, at the moment it acts; a
    /// leadership found lapsed is given up on the spot (`relinquish`), before anything else happens.
    func leads() -> Bool {
        switch leadership {
        case .alone: return true
        case .following: return false
        case .leading(let fence):
            if fence.holdsLeadership { return true }
            relinquish(reason: "its leadership lapsed: the etcd lease may have ended")
            return false
        }
    }

    /// Throws unless this coordinator may act now (`leads`).
    func requireLeadership() throws(CoordinatorError) {
        guard leads() else {
            throw .unavailable("this coordinator does not lead its cluster now; the leader admits and pairs")
        }
    }

    /// Whether this coordinator leads its cluster now (always, alone).
    public var isLeading: Bool { leads() }

    /// Waits as a follower of its cluster: refuses every call that would act until `takeOver`.
    public func follow() {
        if case .alone = leadership { leadership = .following }
    }

    /// Gives up, at once, everything a cluster's leader holds when its leadership ends (its lease lapsed, it was
    /// deposed, etcd was lost), so that it never acts beside its successor:
    /// - every ticket and waiting recompute is dropped without an instruction to anyone: the next leader knows none
    ///   of them, and each worker frees their blocks when its session ends;
    /// - every worker session is closed, so that workers register with the next leader (`LeaderGate` names it);
    /// - callers waiting on a request (`outcome`, `reservation`) are told the coordinator lost its leadership, and
    ///   Route streams' watchers get a failed account saying so: the request may be admitted again at the leader;
    /// - writes to the registry stop; finished accounts stay queryable.
    /// Until the next `takeOver`, every call that would act is refused with `.unavailable`.
    public func relinquish(reason: String) {
        if case .following = leadership { return }
        leadership = .following
        registryStore = nil
        let failure = "coordinator lost its leadership (\(reason)); admit the request again at the leader"
        let dropped = tickets.count + awaitingPair.count
        for ticket in tickets.values { endTrace(of: ticket, as: .failed, reason: failure) }
        let watched = watchers
        watchers = [:]
        for (requestID, watcher) in watched {
            let account: RequestAccount? =
                activeRequests[requestID].flatMap { tickets[$0] }?.account(state: .failed, failure: failure)
                ?? awaitingPair[requestID]?.failed.account(state: .failed, failure: failure)
            if let account { watcher(.finished(account)) }
        }
        tickets = [:]
        activeRequests = [:]
        awaitingPair = [:]
        for key in pairs.keys { pairs[key]?.inFlight = 0 }
        for waiting in waiters.values.flatMap(\.values) + reservationWaiters.values.flatMap(\.values) {
            waiting.resume(returning: nil)
        }
        waiters = [:]
        reservationWaiters = [:]
        let sessions = workers.values.filter(\.live)
        for record in sessions {
            pairingIndex.remove(record.load)
            record.outbox.finish()
        }
        workers = [:]
        workerGaugesStale = true
        publishWorkerGauges()
        publishInFlight(at: now())
        logger.log(
            level: dropped + sessions.count > 0 ? .error : .info, "relinquished the cluster's leadership",
            metadata: [
                "reason": "\(reason)", "dropped_requests": "\(dropped)", "closed_sessions": "\(sessions.count)",
            ])
    }
}
