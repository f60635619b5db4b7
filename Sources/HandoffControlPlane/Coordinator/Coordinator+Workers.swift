import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import Logging

extension Coordinator {
    /// Registers a worker instance whose session pushes instructions into `outbox`.
    ///
    /// Sends `registered` to it, then announces compatible prefill workers to every decode worker involved so that
    /// data-plane connections come up now rather than on a request's path.
    ///
    /// - Throws: `.invalidArgument` for an empty id, a layout that contradicts itself, its model or its descriptor,
    ///   or a hash that is not the spec's; `.alreadyExists` when a live instance already holds the id.
    public func register(
        _ registration: WorkerRegistration, outbox: BatchingOutbox<WorkerInstruction>
    ) throws(CoordinatorError) {
        try Self.validate(registration)
        try requireLeadership()
        let identity = registration.identity
        if let existing = workers[identity.id], existing.live, !existing.attached {
            // Adopted from the registry at a takeover: the same instance reconnects, a new one replaces it.
            if existing.identity == identity && existing.registration == registration {
                attach(registration, outbox: outbox)
                return
            }
            loseWorker(existing.identity, reason: "replaced by instance \(identity.instance)")
        }
        if let existing = workers[identity.id], existing.live {
            throw .alreadyExists(
                "worker id \(identity.id) is held by live instance \(existing.identity); a restarted worker registers "
                    + "once the old session has ended")
        }
        let record = WorkerRecord(
            registration: registration, outbox: outbox, metrics: metrics, lastHeartbeat: now(),
            groupKeys: groupKeys(of: registration))
        workers[identity.id] = record
        indexLive(record)
        registryStore?.registered(registration)
        record.send(.registered(heartbeatInterval: configuration.heartbeatInterval, reportKey: record.reportKey))
        logger.info(
            "worker registered",
            metadata: [
                "worker": "\(identity)", "role": "\(registration.role.rawValue)",
                "model": "\(registration.layout.model)",
                "blocks": "\(registration.layout.numBlocks)", "node": "\(registration.node)",
            ])
        workerGaugesStale = true
        retryAwaitingPairs(at: now())
    }

    /// Records a heartbeat from `identity`; ignored when that instance is no longer registered.
    public func heartbeat(_ identity: WorkerIdentity, freeBlocks: Int, queueDepth: Int) {
        guard leads(), var record = workers[identity.id], record.identity == identity, record.live else { return }
        record.lastHeartbeat = now()
        record.reportedFree = min(max(0, freeBlocks), record.registration.layout.numBlocks)
        record.queueDepth = max(0, queueDepth)
        workers[identity.id] = record
        registryStore?.heartbeat(identity)
    }

    /// The worker's session ended: the instance is out of service. `graceful` when the worker closed it itself
    /// (a shutdown), otherwise the stream broke (process gone, network).
    public func sessionEnded(_ identity: WorkerIdentity, reason: String, graceful: Bool = false) {
        guard leads() else { return }
        loseWorker(identity, reason: reason, graceful: graceful)
    }

    /// Takes an instance out of service: peers are told, its tickets are re-paired or failed. `graceful` for an
    /// orderly end (the worker or the coordinator shut down), logged as information rather than a warning.
    func loseWorker(_ identity: WorkerIdentity, reason: String, graceful: Bool = false) {
        guard var record = workers[identity.id], record.identity == identity, record.live else { return }
        let level: Logger.Level = graceful ? .info : .warning
        record.live = false
        record.lostAt = now()
        record.lostReason = reason
        record.lostGracefully = graceful
        workers[identity.id] = record
        pairingIndex.remove(record.load)
        if !graceful { metrics.workerLost(role: record.role) }
        registryStore?.removed(identity)
        for id in workers.keys { workers[id]?.knownPeers.remove(identity) }
        // Its session closes after the releases of its tickets are queued on it (below).
        defer { record.outbox.finish() }
        logger.log(level: level, "worker out of service", metadata: ["worker": "\(identity)", "reason": "\(reason)"])
        // Decode workers hold connections to prefill workers (pulls); prefill workers may hold some to decode
        // workers (pushes).
        for peer in workers.values
        where peer.live && peer.role == record.role.counterpart
            && peer.registration.compatibility == record.registration.compatibility
        {
            peer.send(.peerDown(identity, reason: reason))
        }
        // A ticket whose KV already reached its decode worker (or was pushed there) no longer needs the prefill worker.
        for ticket in tickets.values
        where ticket.decode == identity
            || (ticket.prefill == identity && ticket.state != .decoding && !ticket.pushed)
        {
            loadFailed(
                ticket.id,
                reason: "\(ticket.prefill == identity ? "prefill" : "decode") worker \(identity) lost: \(reason)")
        }
        workerGaugesStale = true
    }

    /// Lists a live worker under its model for decisions.
    func indexLive(_ record: WorkerRecord) {
        pairingIndex.insert(record.load)
    }

    /// The interned numbers of a registration's compatibility hash, rack and node.
    func groupKeys(of registration: WorkerRegistration) -> PairingCandidate.GroupKeys {
        func number(_ label: String) -> Int {
            if label.isEmpty { return -1 }
            if let known = internedLabels[label] { return known }
            internedLabels[label] = internedLabels.count
            return internedLabels.count - 1
        }
        return .init(
            compatibility: number(registration.compatibility), rack: number(registration.rack),
            node: number(registration.node))
    }

    /// Gives a decode worker a prefill instance's descriptor the first time a ticket pairs them, ahead of the
    /// ticket's reserve, so that it connects while the prompt is computed: a pool's keys reach only the workers
    /// that were paired with its owner, not every worker that registers.
    func introduce(_ prefill: WorkerIdentity, to decode: WorkerIdentity) {
        guard let source = workers[prefill.id], source.identity == prefill, source.live,
            let target = workers[decode.id], target.identity == decode, !target.knownPeers.contains(prefill)
        else { return }
        workers[decode.id]?.knownPeers.insert(prefill)
        target.send(.peerUp(source.announcement))
    }

    /// Moves every live worker's last heartbeat forward by the time this coordinator did not run: a sweep that
    /// comes much later than `sweepInterval` (the process was starved of CPU, stopped, or its actor busy) could
    /// read no heartbeat meanwhile, and without this would find every worker silent at once and fail all their
    /// requests (seen on a 2-core machine running two vLLM servers: both workers lost in the same sweep).
    func forgiveOwnPause(sweptAt time: UInt64) {
        defer { lastSweep = time }
        guard let last = lastSweep, time > last, time - last > configuration.sweepInterval.nanoseconds else { return }
        let pause = time - last - configuration.sweepInterval.nanoseconds
        guard pause > configuration.heartbeatInterval.nanoseconds / 4 else { return }
        for (id, record) in workers where record.live {
            workers[id]?.lastHeartbeat = min(time, record.lastHeartbeat &+ pause)
        }
        logger.log(
            level: pause > configuration.heartbeatInterval.nanoseconds ? .notice : .debug,
            "the coordinator did not run for a while; workers' heartbeat deadlines moved by as much",
            metadata: ["paused_ms": "\(pause / 1_000_000)"])
    }

    /// Declares lost every live worker whose last heartbeat is older than the liveness timeout.
    func checkLiveness(at time: UInt64) {
        let timeout = configuration.livenessTimeout.nanoseconds
        for record in workers.values
        where record.live && time > record.lastHeartbeat && time - record.lastHeartbeat > timeout {
            loseWorker(record.identity, reason: "no heartbeat for \(configuration.livenessTimeout)")
        }
    }

    /// Forgets lost workers' records older than the retention, and the oldest beyond `maxLostWorkers`, so that
    /// workers that come and go cannot grow the registry (and every listing of it) without bound.
    func expireLostWorkers(at time: UInt64) {
        let retention = configuration.lostWorkerRetention.nanoseconds
        let lost = workers.values.filter { !$0.live }
        guard !lost.isEmpty else { return }
        var forget = lost.filter { time &- $0.lostAt > retention }.map(\.identity.id)
        let excess = lost.count - forget.count - configuration.maxLostWorkers
        if excess > 0 {
            let kept = lost.filter { time &- $0.lostAt <= retention }.sorted { $0.lostAt < $1.lostAt }
            forget += kept.prefix(excess).map(\.identity.id)
        }
        guard !forget.isEmpty else { return }
        for id in forget { workers[id] = nil }
        workerGaugesStale = true
    }

    /// Sets the worker gauges from one pass over the registry. The sweep calls it when registrations changed
    /// (`workerGaugesStale`), so that a thousand workers registering or leaving cost one pass each sweep, not one
    /// per worker.
    func publishWorkerGauges() {
        workerGaugesStale = false
        var counts: [WorkerRole: (live: Int, lost: Int)] = [:]
        for record in workers.values {
            if record.live {
                counts[record.role, default: (0, 0)].live += 1
            } else {
                counts[record.role, default: (0, 0)].lost += 1
            }
        }
        for role in WorkerRole.allCases {
            metrics.workers(role: role, state: "live", count: counts[role]?.live ?? 0)
            metrics.workers(role: role, state: "lost", count: counts[role]?.lost ?? 0)
        }
    }

    static func validate(_ registration: WorkerRegistration) throws(CoordinatorError) {
        let identity = registration.identity
        if identity.id.isEmpty || identity.id.utf8.count > 256 {
            throw .invalidArgument("worker id must be 1 to 256 bytes long")
        }
        let problems = registration.layout.contradictions()
        if !problems.isEmpty {
            throw .invalidArgument("worker \(identity.id): layout rejected: " + problems.joined(separator: "; "))
        }
        let expectedHash = CompatibilityHash.of(registration.layout)
        if registration.compatibility != expectedHash {
            throw .invalidArgument(
                "worker \(identity.id): compatibility hash \(registration.compatibility) is not the hash of its declared "
                    + "layout (\(expectedHash)); are both sides the same Handoff protocol version?")
        }
        let descriptor: PoolDescriptor
        do {
            descriptor = try PoolDescriptor(decoding: registration.descriptor)
        } catch {
            throw .invalidArgument("worker \(identity.id): data-plane descriptor rejected: \(error)")
        }
        guard let layout = try? registration.layout.layout(), descriptor.layout == layout else {
            throw .invalidArgument(
                "worker \(identity.id): the descriptor's pool layout (\(descriptor.layout.numBlocks) blocks of "
                    + "\(descriptor.layout.geometry.blockBytes) B) is not the declared one")
        }
    }
}

extension WorkerRecord {
    var announcement: PeerAnnouncement {
        PeerAnnouncement(
            identity: identity, descriptor: registration.descriptor, node: registration.node, rack: registration.rack)
    }
}
