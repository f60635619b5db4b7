import Synchronization

/// Whether this coordinator leads its cluster, and who does if it does not. Read on every call by `LeaderGate`.
public final class ClusterRole: Sendable {
    /// Where a coordinator stands.
    public enum State: Sendable, Hashable {
        /// Campaigning; `leader` is the current leader's address, nil while none is known.
        case follower(leader: String?)
        /// Leading: admitting and pairing. `term` counts the cluster's leaderships, this one included.
        case leader(term: Int)
    }

    private let state = Mutex(State.follower(leader: nil))

    public init() {}

    public var current: State { state.withLock { $0 } }

    public var isLeader: Bool {
        if case .leader = current { return true }
        return false
    }

    func becomeLeader(term: Int) { state.withLock { $0 = .leader(term: term) } }

    /// Records the leader a follower observed; ignored once this coordinator leads.
    func observed(leader: String?) {
        state.withLock { state in
            if case .follower = state { state = .follower(leader: leader) }
        }
    }
}
