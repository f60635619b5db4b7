import Foundation
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import Logging
import Synchronization

/// One coordinator's part in its cluster: campaigns through etcd's `Election` service with a lease of its own,
/// follows the leader meanwhile (for `LeaderGate`'s redirects), and once elected counts the term, loads the worker
/// registry into the coordinator and keeps the registry in etcd until the task is cancelled or the lease is lost.
///
/// The leader is whoever holds the election's key; etcd deletes it when the leader's lease is not renewed for its
/// TTL (a crash), or at once when the leader revokes it (`stepDown`, an orderly shutdown).
public final class LeaderElection: Sendable {
    let cluster: ClusterConfiguration
    let coordinator: Coordinator
    public let role: ClusterRole
    let metrics: ClusterMetrics
    let logger: Logger
    /// Set by `stepDown`: what fails after it (a campaign whose lease was revoked, renewals) ends `run` quietly.
    private let steppedDown = Atomic<Bool>(false)
    /// The etcd client and lease while `run` is running, for `stepDown`.
    private let held = Mutex<(etcd: EtcdClient, lease: Int64)?>(nil)
    /// The registry once this coordinator leads, for etcd's answers to renewals of workers' leases.
    private let registry = Mutex<EtcdWorkerRegistry?>(nil)
    /// When etcd last answered a renewal of this coordinator's lease.
    private let lastRenewal = Mutex(ContinuousClock.now)

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

    /// Campaigns, then leads, until cancelled.
    ///
    /// - Throws: `ClusterError` when the lease is lost, the coordinator is deposed or etcd cannot be used: the
    ///   process should exit and be started again.
    public func run() async throws {
        do {
            try await campaignAndLead()
        } catch  where steppedDown.load(ordering: .acquiring) {
            return
        }
    }

    private func campaignAndLead() async throws {
        try await withEtcdClient(cluster.etcd) { etcd in
            let lease: EtcdLease
            do throws(EtcdError) {
                lease = try await etcd.grantLease(ttlSeconds: cluster.leaderTTLSeconds)
            } catch {
                throw ClusterError.etcd(error)
            }
            held.withLock { $0 = (etcd, lease.id) }
            defer { held.withLock { $0 = nil } }
            logger.info(
                "campaigning", metadata: ["cluster": "\(cluster.name)", "lease_ttl_s": "\(lease.ttlSeconds)"])
            let keeper = EtcdLeaseKeeper()
            lastRenewal.withLock { $0 = .now }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await keeper.run(etcd) { id, ttl in
                        if id == lease.id {
                            if ttl > 0 { self.lastRenewal.withLock { $0 = .now } }
                        } else {
                            self.registry.withLock { $0 }?.answered(lease: id, ttlSeconds: ttl)
                        }
                    } failed: { error in
                        self.logger.warning("etcd keep-alive stream failed; reopening", metadata: ["error": "\(error)"])
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
        }
    }

    /// Gives leadership up at once (revokes the lease) for an orderly shutdown, so that the next coordinator
    /// leads without waiting for the TTL.
    public func stepDown() async {
        steppedDown.store(true, ordering: .releasing)
        guard let (etcd, lease) = held.withLock({ $0 }) else { return }
        do {
            try await etcd.revokeLease(lease)
            logger.info("stepped down: lease revoked")
        } catch {
            logger.warning(
                "could not revoke the lease; the next leader waits for its TTL", metadata: ["error": "\(error)"])
        }
    }

    /// Renews the coordinator's own lease every third of its TTL; throws once no renewal was answered for a TTL.
    private func keepAlive(_ lease: EtcdLease, keeper: EtcdLeaseKeeper) async throws {
        let ttl = Duration.seconds(lease.ttlSeconds)
        while !Task.isCancelled {
            keeper.renew(lease.id)
            try await Task.sleep(for: ttl / 3)
            let silence = ContinuousClock.now - lastRenewal.withLock { $0 }
            if silence > ttl {
                metrics.isLeader.record(0)
                throw ClusterError.leaseLost("no renewal answered for \(silence) (TTL \(ttl))")
            }
        }
    }

    /// Keeps `role` told who leads while this coordinator follows (once it leads, `role` ignores what it hears).
    /// Returns only when cancelled: the election ends when any of its tasks does.
    private func followLeader(_ etcd: EtcdClient) async {
        while !Task.isCancelled {
            try? await etcd.observe(cluster.election) { [role] value in
                // Only an address goes into a refusal's metadata, whatever a key's value holds.
                let leader = try? HostPort(parsing: String(decoding: value.prefix(300), as: UTF8.self))
                role.observed(leader: leader?.description)
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
        let adopted = await coordinator.takeOver(entries.values.map(\.registration), store: registry, term: term)
        role.becomeLeader(term: term)
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
