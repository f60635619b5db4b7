import Foundation
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import Logging
import Synchronization

/// One coordinator's part in its cluster: campaigns through etcd's `Election` service with a lease of its own,
/// follows the leader meanwhile (for `LeaderGate`'s redirects), and once elected counts the term, loads the worker
/// registry into the coordinator and keeps the registry in etcd.
///
/// It never gives up: when its lease lapses (etcd unreachable or without quorum, the process paused or starved), a
/// fenced write fails (deposed) or an etcd stream breaks, it steps down at once (the coordinator relinquishes its
/// tickets and worker sessions, `LeaderGate` refuses calls with the leader's address), connects again (to any
/// member that answers) and campaigns again, until the task is cancelled or `stepDown` is called.
///
/// The leader is whoever holds the election's key; etcd deletes it when the leader's lease is not renewed for its
/// TTL (a crash), or at once when the leader revokes it (`stepDown`, an orderly shutdown). The leadership this
/// coordinator acts on ends earlier than etcd's lease: at the send time of the last renewal etcd answered plus the
/// TTL, less `leaseMargin` (`ClusterRole`).
public final class LeaderElection: Sendable {
    let cluster: ClusterConfiguration
    let coordinator: Coordinator
    public let role: ClusterRole
    let metrics: ClusterMetrics
    let logger: Logger
    /// Set by `stepDown`: what fails after it ends `run` quietly.
    private let steppedDown = Atomic<Bool>(false)
    /// The etcd client and lease while a campaign is running, for `stepDown`.
    private let held = Mutex<(etcd: EtcdClient, lease: Int64)?>(nil)
    /// The registry once this coordinator leads, for etcd's answers to renewals of workers' leases.
    private let registry = Mutex<EtcdWorkerRegistry?>(nil)
    /// Whether this coordinator was elected in the campaign under way (it has a fleet to hand back).
    private let hasLed = Atomic<Bool>(false)
    /// The renewals of this coordinator's own lease.
    private let renewals = Mutex(LeaseRenewals(granted: .now, ttl: .seconds(1)))

    /// The shortest and longest pause before campaigning again after a failure.
    static let retryPauses = (first: Duration.milliseconds(100), longest: Duration.seconds(2))

    public init(
        cluster: ClusterConfiguration, coordinator: Coordinator, role: ClusterRole = ClusterRole(),
        metrics: ClusterMetrics = ClusterMetrics(), logger: Logger = Logger(label: "handoff.cluster")
    ) {
        self.cluster = cluster
        self.coordinator = coordinator
        self.role = role
        self.metrics = metrics
        self.logger = logger
    }

    /// Campaigns, leads, and after any loss of leadership or of etcd campaigns again, until cancelled or
    /// `stepDown` is called. Never throws: a clustered coordinator that cannot reach etcd keeps serving refusals.
    public func run() async {
        await coordinator.follow()  // acts only once elected
        var pause = Self.retryPauses.first
        while !Task.isCancelled && !steppedDown.load(ordering: .acquiring) {
            let started = ContinuousClock.now
            let reason: String
            do {
                try await campaignAndLead()
                reason = "the election ended"
            } catch {
                reason = "\(error)"
            }
            if Task.isCancelled || steppedDown.load(ordering: .acquiring) { return }
            await leave(reason: reason, retryingIn: pause)
            try? await Task.sleep(for: pause)
            // A leadership or a campaign that lasted resets the back-off; failing again at once doubles it.
            pause =
                ContinuousClock.now - started > Self.retryPauses.longest * 2
                ? Self.retryPauses.first : min(pause * 2, Self.retryPauses.longest)
        }
    }

    /// Gives leadership up at once (revokes the lease) for an orderly shutdown, so that the next coordinator
    /// leads without waiting for the TTL.
    public func stepDown() async {
        steppedDown.store(true, ordering: .releasing)
        role.stepDown(problem: "the coordinator is shutting down")
        guard let (etcd, lease) = held.withLock({ $0 }) else { return }
        do {
            try await etcd.revokeLease(lease, timeout: .seconds(2))
            logger.info("stepped down: lease revoked")
        } catch {
            logger.warning(
                "could not revoke the lease; the next leader waits for its TTL", metadata: ["error": "\(error)"])
        }
    }

    /// After a campaign or a leadership ended with `reason`: follows, and if it led, hands everything back.
    private func leave(reason: String, retryingIn pause: Duration) async {
        let wasLeading = hasLed.exchange(false, ordering: .acquiringAndReleasing)
        role.stepDown(problem: reason)
        registry.withLock { $0 = nil }
        metrics.isLeader.record(0)
        if wasLeading {
            metrics.stepDowns.increment()
            logger.error(
                "stepped down; campaigning again",
                metadata: ["cluster": "\(cluster.name)", "reason": "\(reason)", "retry_in": "\(pause)"])
        } else {
            logger.warning(
                "campaign failed; campaigning again",
                metadata: ["cluster": "\(cluster.name)", "reason": "\(reason)", "retry_in": "\(pause)"])
        }
        await coordinator.relinquish(reason: reason)
    }

    private func campaignAndLead() async throws {
        try await withEtcdClient(cluster.etcd) { etcd in
            let asked = ContinuousClock.now
            let lease: EtcdLease
            do throws(EtcdError) {
                lease = try await etcd.grantLease(ttlSeconds: cluster.leaderTTLSeconds)
            } catch {
                throw ClusterError.etcd(error)
            }
            renewals.withLock { $0 = LeaseRenewals(granted: asked, ttl: .seconds(lease.ttlSeconds)) }
            role.report(problem: nil)
            held.withLock { $0 = (etcd, lease.id) }
            defer { held.withLock { $0 = nil } }
            logger.info(
                "campaigning", metadata: ["cluster": "\(cluster.name)", "lease_ttl_s": "\(lease.ttlSeconds)"])
            let keeper = EtcdLeaseKeeper()
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await keeper.run(etcd) { id, ttl in
                            if id == lease.id {
                                self.answered(ttlSeconds: ttl)
                            } else {
                                self.registry.withLock { $0 }?.answered(lease: id, ttlSeconds: ttl)
                            }
                        } failed: { error in
                            self.logger.warning(
                                "etcd keep-alive stream failed; reopening", metadata: ["error": "\(error)"])
                        }
                    }
                    group.addTask { try await self.keepAlive(lease, keeper: keeper) }
                    group.addTask { await self.followLeader(etcd) }
                    group.addTask {
                        let store = try await self.lead(etcd, lease: lease, keeper: keeper)
                        self.registry.withLock { $0 = store.registry }
                        try await store.registry.run(entries: store.entries)
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                // The candidacy ends with the lease: the next campaign (this one's or another's) need not wait out
                // its TTL. etcd may be unreachable: at worst the lease lapses.
                if !steppedDown.load(ordering: .acquiring) {
                    try? await etcd.revokeLease(lease.id, timeout: .seconds(1))
                }
                throw error
            }
        }
    }

    /// etcd answered a renewal of this coordinator's lease: extends the local deadline, or ends the leadership
    /// at once when etcd says the lease is gone.
    private func answered(ttlSeconds: Int64) {
        let valid = renewals.withLock { $0.answered(ttlSeconds: ttlSeconds) }
        if let valid {
            role.extendLease(until: valid)
        } else if ttlSeconds <= 0 {
            role.stepDown(problem: "etcd says this coordinator's lease no longer exists")
        }
    }

    /// Renews the coordinator's own lease every `LeaseRenewals.interval`; throws once the lease may have lapsed
    /// (no renewal answered in time, or etcd said it is gone).
    private func keepAlive(_ lease: EtcdLease, keeper: EtcdLeaseKeeper) async throws {
        while !Task.isCancelled {
            let interval = renewals.withLock { renewals in
                renewals.sent(at: .now)
                return renewals.interval
            }
            keeper.renew(lease.id)
            try await Task.sleep(for: interval)
            if let lapse = renewals.withLock({ $0.lapse(at: .now) }) {
                role.stepDown(problem: lapse)
                throw ClusterError.leaseLost(lapse)
            }
        }
    }

    /// Keeps `role` told who leads while this coordinator follows (once it leads, `role` ignores what it hears).
    /// Returns only when cancelled: the election ends when any of its tasks does.
    private func followLeader(_ etcd: EtcdClient) async {
        let own = cluster.advertise.description
        while !Task.isCancelled {
            try? await etcd.observe(cluster.election) { [role] value in
                // Only an address goes into a refusal's metadata, whatever a key's value holds; this coordinator's
                // own (a lapsed candidacy etcd has not deleted yet) names nobody to go to.
                let leader = (try? HostPort(parsing: String(decoding: value.prefix(300), as: UTF8.self)))?.description
                role.observed(leader: leader == own ? nil : leader)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits to be elected, then takes the fleet over.
    private func lead(
        _ etcd: EtcdClient, lease: EtcdLease, keeper: EtcdLeaseKeeper
    ) async throws -> (registry: EtcdWorkerRegistry, entries: [String: EtcdWorkerRegistry.Entry]) {
        let leadership: EtcdLeadership
        do {
            leadership = try await etcd.campaign(
                cluster.election, lease: lease.id, value: Data(cluster.advertise.description.utf8))
        } catch {
            throw ClusterError.etcd(error)
        }
        let elected = ContinuousClock.now
        let term = try await countTerm(etcd, leadership: leadership)
        let registry = EtcdWorkerRegistry(
            etcd: etcd, cluster: cluster, leadership: leadership, keeper: keeper, metrics: metrics, logger: logger)
        let entries = try await registry.load()
        // Leads until the lease may lapse, extended by each answered renewal.
        role.becomeLeader(term: term, validUntil: renewals.withLock { $0.validUntil })
        hasLed.store(true, ordering: .releasing)
        let adopted = await coordinator.takeOver(
            entries.values.map(\.registration), store: registry, term: term, fence: role)
        let took = ContinuousClock.now - elected
        metrics.isLeader.record(1)
        metrics.term.record(term)
        metrics.leaderships.increment()
        metrics.adoptedWorkers.record(adopted.count)
        metrics.takeoverSeconds.recordNanoseconds(took.nanoseconds)
        logger.notice(
            "elected leader",
            metadata: [
                "cluster": "\(cluster.name)", "term": "\(term)", "adopted_workers": "\(adopted.count)",
                "takeover_ms": "\(took.milliseconds)",
            ])
        return (registry, entries)
    }

    /// Increments the cluster's leadership count in etcd (fenced on `leadership`) and returns it.
    private func countTerm(_ etcd: EtcdClient, leadership: EtcdLeadership) async throws(ClusterError) -> Int {
        do {
            let previous = try await etcd.get(cluster.termKey).flatMap {
                Int(String(decoding: $0.value, as: UTF8.self))
            }
            let term = min(previous ?? 0, Int.max - 1) + 1
            guard try await etcd.put(cluster.termKey, value: Data("\(term)".utf8), ifHolding: leadership) else {
                throw ClusterError.deposed("the term could not be recorded")
            }
            return term
        } catch let error as EtcdError {
            throw .etcd(error)
        } catch let error as ClusterError {
            throw error
        } catch {
            throw .etcd(.unexpectedAnswer("\(error)"))
        }
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
