import HandoffControlProtocol
import HandoffCore

extension Coordinator {
    /// Makes this coordinator its cluster's leader with the fleet its predecessor left in the registry.
    ///
    /// Each registered worker gets a record at once, so that requests pair with it without waiting for its
    /// session; instructions for it are held until its session registers the same instance again (its
    /// `Registered` goes first). A worker whose session does not come back within the liveness timeout is lost
    /// as usual. Later registrations, heartbeats and losses go to `store`.
    ///
    /// - Parameters:
    ///   - term: the cluster's count of leaderships, this one included: ticket ids carry it.
    ///   - fence: asked before every action from now on: when it no longer holds, the coordinator relinquishes
    ///     everything (`relinquish`). Nil: it leads until `relinquish` is called.
    /// - Returns: the instances adopted; entries that fail validation are skipped with a warning.
    @discardableResult
    public func takeOver(
        _ registrations: [WorkerRegistration], store: any WorkerRegistryStore, term: Int,
        fence: (any LeadershipFence)? = nil
    ) -> [WorkerIdentity] {
        leadership = fence.map { .leading(fence: $0) } ?? .alone
        ticketPrefix = "t\(term)."
        var adopted: [WorkerIdentity] = []
        let time = now()
        for registration in registrations where workers[registration.identity.id]?.live != true {
            do {
                try Self.validate(registration)
            } catch {
                logger.warning(
                    "registry entry skipped", metadata: ["worker": "\(registration.identity)", "error": "\(error)"])
                continue
            }
            var record = WorkerRecord(
                registration: registration, outbox: BatchingOutbox(), metrics: metrics, lastHeartbeat: time,
                groupKeys: groupKeys(of: registration))
            record.attached = false
            workers[registration.identity.id] = record
            indexLive(record)
            adopted.append(registration.identity)
        }
        registryStore = store
        logger.info("leading the cluster", metadata: ["adopted_workers": "\(adopted.count)"])
        workerGaugesStale = true
        return adopted
    }

    /// Connects an adopted record to the session its worker just opened: `Registered`, then every instruction held
    /// since the takeover, go to `outbox`.
    func attach(_ registration: WorkerRegistration, outbox: BatchingOutbox<WorkerInstruction>) {
        guard var record = workers[registration.identity.id] else { return }
        let held = record.outbox.takeQueued()
        record.outbox.finish()
        record.outbox = outbox
        record.attached = true
        record.lastHeartbeat = now()
        workers[registration.identity.id] = record
        record.send(.registered(heartbeatInterval: configuration.heartbeatInterval, reportKey: record.reportKey))
        for instruction in held { record.send(instruction) }
        registryStore?.heartbeat(registration.identity)
        logger.info(
            "worker reconnected to the new leader",
            metadata: ["worker": "\(registration.identity)", "held_instructions": "\(held.count)"])
    }
}
