import Foundation
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import HandoffProto
import Logging

/// The leader's worker registry in etcd: one key per worker (`/handoff/CLUSTER/workers/ID`, its `Register`
/// message) attached to a lease of the worker's own, which its heartbeats renew (at most every third of the TTL)
/// and which lapses if neither this leader nor a successor renews it.
///
/// Writes happen on registration and loss, renewals on heartbeats: never per request. Every write is a
/// transaction fenced on this coordinator's leadership key, so a deposed leader cannot overwrite its successor.
final class EtcdWorkerRegistry: WorkerRegistryStore {
    enum Change: Sendable {
        case registered(WorkerRegistration)
        case heartbeat(WorkerIdentity)
        case removed(WorkerIdentity)
        /// etcd answered a renewal with TTL 0: the key is gone and must be written again.
        case expired(lease: Int64)
    }

    /// A worker's entry as this leader keeps it.
    struct Entry {
        var registration: WorkerRegistration
        var lease: Int64
        var renewed: ContinuousClock.Instant
    }

    let etcd: EtcdClient
    let cluster: ClusterConfiguration
    let leadership: EtcdLeadership
    let keeper: EtcdLeaseKeeper
    let metrics: ClusterMetrics
    let logger: Logger
    private let changes = BatchingOutbox<Change>()

    init(
        etcd: EtcdClient, cluster: ClusterConfiguration, leadership: EtcdLeadership, keeper: EtcdLeaseKeeper,
        metrics: ClusterMetrics, logger: Logger
    ) {
        self.etcd = etcd
        self.cluster = cluster
        self.leadership = leadership
        self.keeper = keeper
        self.metrics = metrics
        self.logger = logger
    }

    func registered(_ registration: WorkerRegistration) { changes.send(.registered(registration)) }
    func heartbeat(_ identity: WorkerIdentity) { changes.send(.heartbeat(identity)) }
    func removed(_ identity: WorkerIdentity) { changes.send(.removed(identity)) }

    /// etcd's answer to a renewal of a worker's lease.
    func answered(lease: Int64, ttlSeconds: Int64) {
        if ttlSeconds <= 0 { changes.send(.expired(lease: lease)) }
    }

    /// The entries the previous leader left, each decoded; entries that do not decode are deleted.
    func load() async throws(ClusterError) -> [String: Entry] {
        let stored: [EtcdKeyValue]
        do {
            stored = try await etcd.range(prefix: cluster.workersPrefix)
        } catch {
            throw .etcd(error)
        }
        var entries: [String: Entry] = [:]
        for kv in stored {
            do {
                let registration = try WorkerRegistration(proto: Handoff_V1_Register(serializedBytes: kv.value))
                guard cluster.workerKey(registration.identity.id) == kv.key else {
                    throw ProtocolError("the entry's worker id is not its key's")
                }
                entries[registration.identity.id] = Entry(registration: registration, lease: kv.lease, renewed: .now)
                keeper.renew(kv.lease)
            } catch {
                logger.warning(
                    "deleting an unreadable registry entry", metadata: ["key": "\(kv.key)", "error": "\(error)"])
                _ = try? await etcd.delete(kv.key, ifHolding: leadership)
            }
        }
        return entries
    }

    /// Applies changes in order until the task is cancelled.
    ///
    /// - Throws: `ClusterError.deposed` when a fenced write fails (another coordinator leads), `.etcd` when etcd
    ///   stays unreachable for a third of a worker's TTL through one write's tries.
    func run(entries initial: [String: Entry]) async throws(ClusterError) {
        var entries = initial
        while let batch = await changes.nextBatch() {
            for change in batch { try await apply(change, to: &entries) }
        }
    }

    private func apply(_ change: Change, to entries: inout [String: Entry]) async throws(ClusterError) {
        switch change {
        case .registered(let registration):
            try await write(registration, replacing: entries[registration.identity.id], in: &entries)
        case .heartbeat(let identity):
            guard var entry = entries[identity.id], entry.registration.identity == identity else { return }
            let renewEvery = Duration.milliseconds(cluster.workerTTLSeconds * 1000 / 3)
            guard ContinuousClock.now - entry.renewed >= renewEvery else { return }
            entry.renewed = .now
            entries[identity.id] = entry
            keeper.renew(entry.lease)
            metrics.wrote("renew")
        case .removed(let identity):
            guard let entry = entries[identity.id], entry.registration.identity == identity else { return }
            entries[identity.id] = nil
            try await fenced("delete") { () async throws(EtcdError) -> Bool in
                try await etcd.delete(cluster.workerKey(identity.id), ifHolding: leadership)
            }
            try? await etcd.revokeLease(entry.lease)
        case .expired(let lease):
            guard let entry = entries.values.first(where: { $0.lease == lease }) else { return }
            logger.warning(
                "a worker's registry key expired; writing it again",
                metadata: ["worker": "\(entry.registration.identity)"])
            try await write(entry.registration, replacing: nil, in: &entries)
        }
    }

    private func write(
        _ registration: WorkerRegistration, replacing old: Entry?, in entries: inout [String: Entry]
    ) async throws(ClusterError) {
        let value: Data
        do {
            value = try registration.proto.serializedBytes()
        } catch {
            logger.error("cannot encode a registration", metadata: ["error": "\(error)"])
            return
        }
        let lease = try await retrying("grant") { () async throws(EtcdError) -> EtcdLease in
            try await etcd.grantLease(ttlSeconds: cluster.workerTTLSeconds)
        }
        try await fenced("put") { () async throws(EtcdError) -> Bool in
            try await etcd.put(
                cluster.workerKey(registration.identity.id), value: value, lease: lease.id, ifHolding: leadership)
        }
        if let old, old.lease != lease.id { try? await etcd.revokeLease(old.lease) }
        entries[registration.identity.id] = Entry(registration: registration, lease: lease.id, renewed: .now)
    }

    /// Runs a fenced write; throws `.deposed` when the fence fails.
    private func fenced(_ op: String, _ body: () async throws(EtcdError) -> Bool) async throws(ClusterError) {
        guard try await retrying(op, body) else {
            throw .deposed("a registry \(op) fenced on this coordinator's leadership failed")
        }
        metrics.wrote(op)
    }

    private func retrying<Result>(
        _ op: String, _ body: () async throws(EtcdError) -> Result
    ) async throws(ClusterError) -> Result {
        // Workers' keys outlive a pause of a third of their TTL: so long, etcd may be electing or starved.
        let deadline = ContinuousClock.now + .seconds(cluster.workerTTLSeconds) / 3
        var pause = Duration.milliseconds(100)
        while true {
            do {
                return try await body()
            } catch {
                metrics.registryErrors.increment()
                if ContinuousClock.now >= deadline || Task.isCancelled { throw .etcd(error) }
                logger.warning("registry \(op) failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }
}
