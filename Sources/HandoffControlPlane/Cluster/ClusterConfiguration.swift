import HandoffCore
import HandoffEtcd

/// Several coordinators, one leader: how a coordinator joins its cluster through etcd.
public struct ClusterConfiguration: Sendable {
    /// The etcd members.
    public var etcd: EtcdEndpoints
    /// The cluster's name: coordinators of one name campaign against each other; their keys live under
    /// `/handoff/NAME/`.
    public var name: String
    /// The gRPC address other coordinators hand to clients when this one leads: one of the addresses the workers,
    /// routers and tools are given.
    public var advertise: HostPort
    /// The TTL asked for the leader's etcd lease, seconds. A dead leader is replaced about this long after it
    /// stops renewing; etcd raises it to 1.5 × its election timeout (1 s needs `--election-timeout 500`). The
    /// leader renews it five times per TTL and steps down once 0.9 TTL (TTL − 100 ms at least) passed since the
    /// last renewal etcd answered was sent.
    public var leaderTTLSeconds: Int64
    /// The TTL of each worker's registry key: renewed on its heartbeats, at most every third of it.
    public var workerTTLSeconds: Int64

    public init(
        etcd: EtcdEndpoints, name: String, advertise: HostPort,
        leaderTTLSeconds: Int64 = ClusterConfiguration.defaultLeaderTTLSeconds,
        workerTTLSeconds: Int64 = 10
    ) {
        self.etcd = etcd
        self.name = name
        self.advertise = advertise
        self.leaderTTLSeconds = leaderTTLSeconds
        self.workerTTLSeconds = workerTTLSeconds
    }

    /// The default leader lease: 3 s, with a renewal every 600 ms, so that a coordinator on a loaded machine (a
    /// renewal a second or two late, a short stall of etcd's disk) keeps leading, while a crashed leader is
    /// replaced within about 3 s. A demo or a test on an idle machine may use 1 s.
    public static let defaultLeaderTTLSeconds: Int64 = 3

    /// The prefix of the cluster's keys.
    var prefix: String { "/handoff/\(name)/" }
    /// The etcd election the coordinators campaign in.
    var election: String { prefix + "leader" }
    /// The key that counts leaderships: incremented by each new leader.
    var termKey: String { prefix + "term" }
    /// The prefix of the worker registry.
    var workersPrefix: String { prefix + "workers/" }

    func workerKey(_ id: String) -> String { workersPrefix + id }
}
