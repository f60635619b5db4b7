import HandoffControlProtocol
import HandoffCore

/// The coordinator's view of one registered worker instance.
struct WorkerRecord {
    var registration: WorkerRegistration
    /// Instructions to the worker's session.
    var outbox: BatchingOutbox<WorkerInstruction>
    /// What a `Report` outside the session must carry to count as this worker's: random per registration.
    var reportKey = UInt64.random(in: 1...UInt64.max)
    /// Counts instructions that could not be delivered.
    var metrics: CoordinatorMetrics
    var live = true
    /// Whether a session delivers `outbox`: false for a record adopted from the registry (`takeOver`) until its
    /// worker's session registers the same instance again.
    var attached = true
    /// When it was lost (coordinator clock, ns); its record is forgotten after `lostWorkerRetention`.
    var lostAt: UInt64 = 0
    var lostReason = ""
    /// Whether its session ended in an orderly way (the worker or the coordinator shut down), not broken off.
    var lostGracefully = false
    var lastHeartbeat: UInt64
    /// Free blocks and load, shared with the coordinator's pairing index.
    let load: WorkerLoadState
    /// Decode workers: the prefill instances whose descriptor it was given (`Coordinator.introduce`).
    var knownPeers: Set<WorkerIdentity> = []

    var identity: WorkerIdentity { registration.identity }
    var role: WorkerRole { registration.role }

    /// Free blocks as of the last heartbeat, adjusted by what the coordinator learned since.
    var reportedFree: Int {
        get { load.reportedFree }
        nonmutating set { load.reportedFree = newValue }
    }
    /// Blocks promised to admitted tickets that the worker has not allocated yet.
    var pendingBlocks: Int {
        get { load.pendingBlocks }
        nonmutating set { load.pendingBlocks = newValue }
    }
    var queueDepth: Int {
        get { load.queueDepth }
        nonmutating set { load.queueDepth = newValue }
    }
    /// Tickets in flight on this worker.
    var inFlight: Int {
        get { load.inFlight }
        nonmutating set { load.inFlight = newValue }
    }

    /// A new instance's record; `groupKeys` are its compatibility, rack and node interned by the coordinator.
    init(
        registration: WorkerRegistration, outbox: BatchingOutbox<WorkerInstruction>, metrics: CoordinatorMetrics,
        lastHeartbeat: UInt64, groupKeys: PairingCandidate.GroupKeys
    ) {
        self.registration = registration
        self.outbox = outbox
        self.metrics = metrics
        self.lastHeartbeat = lastHeartbeat
        let base = PairingCandidate(
            identity: registration.identity, role: registration.role, model: registration.layout.model,
            compatibility: registration.compatibility, node: registration.node, rack: registration.rack,
            freeBlocks: 0, load: 0)
        load = WorkerLoadState(base: base, keys: groupKeys, reportedFree: registration.layout.numBlocks)
    }

    /// Blocks the worker can still take.
    var effectiveFree: Int { load.effectiveFree }

    /// Queues `instruction` on the worker's session; counts a failed notification if the session is gone. A lost
    /// worker gets only releases: `loseWorker` queues them before it closes the session, so that a worker that was
    /// paused rather than gone frees the blocks when it runs again.
    func send(_ instruction: WorkerInstruction) {
        guard live || instruction.isRelease else { return }
        if !outbox.send(instruction), live { metrics.notificationFailed() }
    }
}

extension WorkerInstruction {
    fileprivate var isRelease: Bool {
        if case .release = self { return true }
        return false
    }
}
