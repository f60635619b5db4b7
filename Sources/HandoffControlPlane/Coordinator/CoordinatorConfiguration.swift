import HandoffControlProtocol

/// Timing and capacity settings of a coordinator.
public struct CoordinatorConfiguration: Sendable, Hashable {
    /// How often workers heartbeat; a worker silent for `missedHeartbeats` intervals is lost.
    public var heartbeatInterval: Duration = .seconds(1)
    public var missedHeartbeats = 3
    /// Deadline of the admitted state: the prefill worker must start within it.
    public var queueTimeout: Duration = .seconds(30)
    /// Deadline of the prefilling state.
    public var prefillTimeout: Duration = .seconds(60)
    /// Deadline of the ready state: the decode worker must have reserved its blocks within it.
    public var reserveTimeout: Duration = .seconds(30)
    /// Stall timeout of the transferring state: no transfer report within it fails the transfer.
    public var transferTimeout: Duration = .seconds(30)
    /// Deadline of the decoding state (transfer done until the first token).
    public var firstTokenTimeout: Duration = .seconds(30)
    /// How long a prefill worker keeps a ticket's blocks after prefill if decode never confirms.
    public var lease: Duration = .seconds(30)
    /// How often deadlines and liveness are checked.
    public var sweepInterval: Duration = .milliseconds(50)
    /// Finished accounts kept for queries and duplicate-id checks, at most this many and at most about this many
    /// bytes (`RequestAccount.estimatedBytes`); the oldest are forgotten first.
    public var retainedAccounts = 100_000
    public var retainedAccountBytes = 64 << 20
    /// Values each rolling percentile is taken over.
    public var rollingWindow = 4096
    /// How many attempts a request with the `recompute` policy gets in all.
    public var maxAttempts = 3
    /// How long a lost worker's record stays listed (ListWorkers, `handoff topo --coordinator`) before it is
    /// forgotten.
    public var lostWorkerRetention: Duration = .seconds(600)
    /// The most lost workers' records kept; beyond it the oldest are forgotten first.
    public var maxLostWorkers = 1024

    public init() {}

    /// The time after which a silent worker counts as lost.
    public var livenessTimeout: Duration { heartbeatInterval * missedHeartbeats }
}
