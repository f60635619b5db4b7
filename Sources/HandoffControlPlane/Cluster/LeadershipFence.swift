/// What a coordinator asks before it acts for its cluster: whether it still holds leadership at this moment.
///
/// The answer must turn false before etcd could elect another coordinator, so that two never admit or instruct
/// workers at once (`ClusterRole` keeps a local lease deadline for this).
public protocol LeadershipFence: Sendable {
    /// Whether leadership is held now.
    var holdsLeadership: Bool { get }
}
