import HandoffControlProtocol

extension Coordinator {
    /// A request's KV could not be loaded: prefill again elsewhere under `recompute`, otherwise fail.
    ///
    /// When no other pair has room right now, the request waits for one (checked on every sweep) until the queue
    /// timeout, then fails with both reasons.
    func loadFailed(_ ticketID: String, reason: String) {
        guard let ticket = tickets[ticketID] else { return }
        guard ticket.request.loadFailurePolicy == .recompute, ticket.attempt < configuration.maxAttempts, admitting
        else {
            finish(ticketID, as: .failed, reason: reason)
            return
        }
        endAttempt(ticket, releaseDecode: true, reason: reason)
        endTrace(of: ticket, as: .failed, reason: reason)
        var failed = ticket
        failed.failedPrefill.insert(ticket.prefill.id)
        var waiting = RecomputeWait(
            failed: failed, reason: reason, deadline: now() + configuration.queueTimeout.nanoseconds)
        if !recompute(&waiting) { awaitingPair[ticket.request.requestID] = waiting }
    }

    /// Starts the next attempt of a request whose load failed, avoiding the prefill workers that failed it;
    /// false (with the reason in `waiting.lastRefusal`) while no pair has room.
    func recompute(_ waiting: inout RecomputeWait) -> Bool {
        let failed = waiting.failed
        var next: Ticket
        do {
            next = try startAttempt(
                request: failed.request, attempt: failed.attempt + 1,
                timeline: TicketTimeline(admitted: failed.timeline.admitted),
                contentSeed: failed.contentSeed, avoidPrefill: failed.failedPrefill)
        } catch {
            waiting.lastRefusal = error.description
            return false
        }
        next.failedPrefill = failed.failedPrefill
        tickets[next.id] = next
        totals.recomputed += 1
        logger.notice(
            "recomputing request",
            metadata: [
                "request": "\(failed.request.requestID)", "attempt": "\(next.attempt)", "reason": "\(waiting.reason)",
            ])
        return true
    }

    /// Retries the requests waiting for a pair to recompute on, oldest first, so that they get freed capacity
    /// before new admissions; fails those whose wait ran out. Called on every sweep, admission, registration and
    /// finished request.
    func retryAwaitingPairs(at time: UInt64) {
        guard admitting, !awaitingPair.isEmpty else { return }
        for (requestID, var waiting) in awaitingPair.sorted(by: { $0.value.deadline < $1.value.deadline }) {
            if recompute(&waiting) {
                awaitingPair[requestID] = nil
            } else if time > waiting.deadline {
                awaitingPair[requestID] = nil
                retire(
                    waiting.failed.account(
                        state: .failed,
                        failure:
                            "\(waiting.reason); no pair to recompute on within \(configuration.queueTimeout): \(waiting.lastRefusal)"
                    ))
            } else {
                awaitingPair[requestID] = waiting
            }
        }
    }

    /// Ends a ticket for good: frees what it held and files its account.
    func finish(_ ticketID: String, as state: TicketState, reason: String) {
        guard let ticket = tickets[ticketID] else { return }
        endAttempt(ticket, releaseDecode: state != .done, reason: reason.isEmpty ? "request done" : reason)
        if state == .done {
            pairs[PairKey(prefill: ticket.prefill.id, decode: ticket.decode.id), default: PairStats()].completed += 1
        } else {
            logger.warning(
                "request \(state.rawValue)",
                metadata: ["request": "\(ticket.request.requestID)", "reason": "\(reason)"])
        }
        endTrace(of: ticket, as: state, reason: reason)
        retire(ticket.account(state: state, failure: reason))
        retryAwaitingPairs(at: now())
    }

    /// Ends the attempt's spans, when it is traced.
    func endTrace(of ticket: Ticket, as state: TicketState, reason: String) {
        ticket.trace?.end(ticket, state: state, reason: reason, at: now())
    }

    /// Removes an attempt's ticket and undoes its holds on both workers.
    func endAttempt(_ ticket: Ticket, releaseDecode: Bool, reason: String) {
        tickets[ticket.id] = nil
        activeRequests[ticket.request.requestID] = nil
        let key = PairKey(prefill: ticket.prefill.id, decode: ticket.decode.id)
        pairs[key]?.inFlight -= 1
        for identity in [ticket.prefill, ticket.decode] where workers[identity.id]?.identity == identity {
            workers[identity.id]?.inFlight -= 1
        }
        if ticket.sourceBlocks == nil, workers[ticket.prefill.id]?.identity == ticket.prefill {
            workers[ticket.prefill.id]?.pendingBlocks -= ticket.blocks
        }
        if ticket.destinationBlocks == nil, workers[ticket.decode.id]?.identity == ticket.decode {
            workers[ticket.decode.id]?.pendingBlocks -= ticket.blocks
        }
        if !ticket.prefillReleased { sendPrefillRelease(for: ticket, reason: reason) }
        if releaseDecode, let decode = workers[ticket.decode.id], decode.identity == ticket.decode {
            decode.send(.release(ticket: ticket.id, reason: reason))
            if ticket.destinationBlocks != nil { workers[ticket.decode.id]?.reportedFree += ticket.blocks }
        }
    }

    /// Tells the prefill worker to free the ticket's blocks.
    func releasePrefill(_ ticketID: String, reason: String) {
        guard let ticket = tickets[ticketID], !ticket.prefillReleased else { return }
        tickets[ticketID]?.prefillReleased = true
        sendPrefillRelease(for: ticket, reason: reason)
    }

    /// Sends `release` to the ticket's prefill instance (if still registered) and counts its blocks free again.
    private func sendPrefillRelease(for ticket: Ticket, reason: String) {
        guard let prefill = workers[ticket.prefill.id], prefill.identity == ticket.prefill else { return }
        prefill.send(.release(ticket: ticket.id, reason: reason))
        if ticket.sourceBlocks != nil { workers[ticket.prefill.id]?.reportedFree += ticket.blocks }
    }

    /// Files a finished request's account, updates totals and metrics, and tells its watcher and waiters.
    func retire(_ account: RequestAccount) {
        activeRequests[account.requestID] = nil
        if let replaced = accounts.updateValue(account, forKey: account.requestID) {
            retainedAccountBytes -= replaced.estimatedBytes
        }
        retainedAccountBytes += account.estimatedBytes
        retiredOrder.append(account.requestID)
        while accounts.count > configuration.retainedAccounts
            || retainedAccountBytes > configuration.retainedAccountBytes, retiredHead < retiredOrder.count
        {
            if let forgotten = accounts.removeValue(forKey: retiredOrder[retiredHead]) {
                retainedAccountBytes -= forgotten.estimatedBytes
            }
            retiredHead += 1
        }
        if retiredHead > 4096 && retiredHead * 2 > retiredOrder.count {
            retiredOrder.removeFirst(retiredHead)
            retiredHead = 0
        }
        switch account.state {
        case .done:
            totals.done += 1
            if let transfer = account.transfer {
                totals.kvBytes += transfer.bytes
                // Names come from workers' reports: a few distinct ones, then the rest as "other".
                let name =
                    totals.transports[transfer.transport] != nil || totals.transports.count < Self.maxTransportNames
                    ? transfer.transport : "other"
                totals.transports[name, default: 0] += 1
            }
            if let components = account.components {
                for (name, value) in components.named {
                    componentWindows[name, default: RollingPercentiles(capacity: configuration.rollingWindow)]
                        .record(Double(value) / 1e9)
                }
                metrics.completed(components)
            }
        case .expired: totals.expired += 1
        default: totals.failed += 1
        }
        metrics.outcome(account.state)
        watchers.removeValue(forKey: account.requestID)?(.finished(account))
        if let waiting = waiters.removeValue(forKey: account.requestID) {
            for continuation in waiting.values { continuation.resume(returning: account) }
        }
        wakeReservationWaiters(account)
    }

    /// Expires or fails every ticket whose deadline or lease has passed, and loses silent workers.
    public func sweep() {
        guard leads() else { return }
        let time = now()
        forgiveOwnPause(sweptAt: time)
        checkLiveness(at: time)
        expireLostWorkers(at: time)
        if workerGaugesStale { publishWorkerGauges() }
        retryAwaitingPairs(at: time)
        for ticket in tickets.values {
            if let lease = ticket.leaseDeadline, time > lease, !ticket.prefillReleased {
                metrics.leaseExpired()
                finish(
                    ticket.id, as: .expired,
                    reason: "the lease on the prefill blocks ran out (\(configuration.lease)) before decode confirmed")
                continue
            }
            guard time > ticket.deadline else { continue }
            switch ticket.state {
            case .admitted:
                finish(
                    ticket.id, as: .expired,
                    reason: "prefill worker \(ticket.prefill) did not start within \(configuration.queueTimeout)")
            case .prefilling:
                finish(
                    ticket.id, as: .expired,
                    reason: "prefill on \(ticket.prefill) did not finish within \(configuration.prefillTimeout)")
            case .ready:
                metrics.transferFailed()
                loadFailed(
                    ticket.id,
                    reason:
                        "decode worker \(ticket.decode) did not reserve blocks within \(configuration.reserveTimeout)")
            case .transferring:
                metrics.transferFailed()
                loadFailed(
                    ticket.id,
                    reason:
                        "transfer stalled: no report from decode worker \(ticket.decode) within \(configuration.transferTimeout)"
                )
            case .decoding:
                finish(
                    ticket.id, as: .expired,
                    reason: "no first token from \(ticket.decode) within \(configuration.firstTokenTimeout)")
            case .awaitingPair, .done, .failed, .expired:
                break
            }
        }
        publishInFlight(at: time)
    }

    /// Sets the in-flight gauges from the tickets left after the sweep: how many in each state, and how long the
    /// oldest transfer has been running (since its pull was sent), so that a stuck transfer shows before its
    /// deadline fails it.
    func publishInFlight(at time: UInt64) {
        var counts: [TicketState: Int] = [.awaitingPair: awaitingPair.count]
        var oldestPull = time
        for ticket in tickets.values {
            counts[ticket.state, default: 0] += 1
            if ticket.state == .transferring, let sent = ticket.timeline.pullSent { oldestPull = min(oldestPull, sent) }
        }
        metrics.inFlight(counts, oldestTransferSeconds: Double(time - oldestPull) / 1e9)
    }
}
