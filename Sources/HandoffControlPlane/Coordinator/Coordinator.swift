import HandoffControlProtocol
import HandoffDataPlane
import Logging

/// The control plane's single source of truth: registered workers, tickets in flight, finished accounts.
///
/// Workers register over a session and get instructions pushed to their outbox; the router admits requests;
/// workers report progress. Every call either changes state consistently or throws a `CoordinatorError` and
/// changes nothing. `run()` enforces deadlines and liveness until cancelled.
public actor Coordinator {
    public let configuration: CoordinatorConfiguration
    let policy: any PairingPolicy
    let metrics: CoordinatorMetrics
    let logger: Logger
    let clock: @Sendable () -> UInt64

    var workers: [String: WorkerRecord] = [:]
    /// Live workers' load states by model, ordered for the default policy: what a decision reads, rather than
    /// every record.
    let pairingIndex = PairingIndex()
    /// Numbers for the compatibility hashes, racks and nodes seen (`PairingCandidate.GroupKeys`).
    var internedLabels: [String: Int] = [:]
    /// Whether workers came or went since the worker gauges were last set.
    var workerGaugesStale = false
    /// When the last sweep ran: a sweep much later than due means this coordinator itself did not run meanwhile.
    var lastSweep: UInt64?
    var tickets: [String: Ticket] = [:]
    /// Request id → ticket id of the active attempt.
    var activeRequests: [String: String] = [:]
    /// Requests between a failed attempt and the next one, waiting for a pair with room, by request id.
    var awaitingPair: [String: RecomputeWait] = [:]
    /// Finished requests, oldest first in `retiredOrder`.
    var accounts: [String: RequestAccount] = [:]
    var retiredOrder: [String] = []
    var retiredHead = 0
    /// The estimated bytes of `accounts`.
    var retainedAccountBytes = 0
    var waiters: [String: [UInt64: CheckedContinuation<RequestAccount?, Never>]] = [:]
    /// Callers waiting for a request's decode reservation (push-mode routers), by request id.
    var reservationWaiters: [String: [UInt64: CheckedContinuation<RequestAccount?, Never>]] = [:]
    var nextWaiter: UInt64 = 0
    /// Routers watching requests in flight, by request id.
    var watchers: [String: RequestWatcher] = [:]
    var nextTicket: UInt64 = 0
    /// What ticket ids start with: `t`, or `tTERM.` on a cluster's leader, so that a worker still holding a ticket
    /// of the previous leader never mistakes a new one for it.
    var ticketPrefix = "t"
    var admitting = true
    var pairs: [PairKey: PairStats] = [:]
    /// Where registrations are kept for a successor (set by `takeOver` on a cluster's leader); nil alone.
    var registryStore: (any WorkerRegistryStore)?
    /// Whether this coordinator may act: alone always; in a cluster only while it leads.
    var leadership = Leadership.alone

    var totals = Totals()
    var componentWindows: [String: RollingPercentiles] = [:]
    var decisionWindow: RollingPercentiles

    /// - Parameters:
    ///   - metrics: where counters and histograms go (a Prometheus registry in the service).
    ///   - clock: monotonic nanoseconds; tests may drive their own.
    public init(
        configuration: CoordinatorConfiguration = CoordinatorConfiguration(),
        policy: any PairingPolicy = DefaultPairingPolicy(),
        metrics: CoordinatorMetrics = CoordinatorMetrics(),
        logger: Logger = Logger(label: "handoff.coordinator"),
        clock: @escaping @Sendable () -> UInt64 = { MonotonicClock.nanos() }
    ) {
        self.configuration = configuration
        self.policy = policy
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.decisionWindow = RollingPercentiles(capacity: configuration.rollingWindow)
    }

    /// Checks deadlines and liveness every `sweepInterval` until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.sweepInterval)
            sweep()
        }
    }

    /// Stops admitting, waits up to `grace` for tickets in flight to finish, then fails the rest with a reason.
    public func shutDown(grace: Duration) async {
        admitting = false
        // A cluster's next leader adopts the workers: their registry entries stay.
        registryStore = nil
        logger.info("shutting down: admitting no more requests", metadata: ["in_flight": "\(inFlight)"])
        for waiting in awaitingPair.values {
            retire(
                waiting.failed.account(
                    state: .failed, failure: "\(waiting.reason); coordinator shut down before a recompute"))
        }
        awaitingPair = [:]
        let deadline = clock() + grace.nanoseconds
        while !tickets.isEmpty && clock() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for ticketID in Array(tickets.keys) {
            finish(ticketID, as: .failed, reason: "coordinator shut down before the request finished")
        }
        for identity in workers.values.filter(\.live).map(\.identity) {
            loseWorker(identity, reason: "coordinator shut down", graceful: true)
        }
    }

    /// Whether new requests are admitted.
    public var isAdmitting: Bool { admitting }

    func now() -> UInt64 { clock() }

    /// Distinct transport names counted in `Totals.transports` before the rest count as `other`.
    static let maxTransportNames = 16

    struct Totals {
        var admitted = 0
        var done = 0
        var failed = 0
        var expired = 0
        var recomputed = 0
        var kvBytes = 0
        var transports: [String: Int] = [:]
    }

    /// A request whose attempt failed under `recompute`, waiting for a pair to try again on.
    struct RecomputeWait {
        /// The failed attempt, its prefill worker added to `failedPrefill`.
        var failed: Ticket
        var reason: String
        /// When to give up (coordinator clock, ns).
        var deadline: UInt64
        /// Why the last try found no pair.
        var lastRefusal = ""
    }

    /// Where a coordinator stands in its cluster, for the checks before every action.
    enum Leadership {
        /// No cluster: it always acts.
        case alone
        /// A cluster's leader, while `fence` holds.
        case leading(fence: any LeadershipFence)
        /// A cluster's follower (or a leader that gave up): it refuses every call that would act.
        case following
    }

    struct PairKey: Hashable {
        var prefill: String
        var decode: String
    }

    struct PairStats {
        var inFlight = 0
        var completed = 0
    }
}
