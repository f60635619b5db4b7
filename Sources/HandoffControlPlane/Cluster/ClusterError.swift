import HandoffEtcd

/// Why a clustered coordinator stopped leading or campaigning: it steps down and campaigns again (`LeaderElection`).
public enum ClusterError: Error, Sendable, CustomStringConvertible {
    /// Its etcd lease ended (etcd unreachable for the whole TTL, or the process stalled that long): another
    /// coordinator may lead now, so nothing this one knows can be trusted.
    case leaseLost(String)
    /// A registry write fenced on its leadership failed: another coordinator leads.
    case deposed(String)
    /// etcd could not be used.
    case etcd(EtcdError)

    public var description: String {
        switch self {
        case .leaseLost(let message): "the coordinator's etcd lease was lost: \(message)"
        case .deposed(let message): "another coordinator leads the cluster: \(message)"
        case .etcd(let error): "\(error)"
        }
    }
}
