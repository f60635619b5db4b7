import Synchronization

/// Whether this coordinator leads its cluster, and who does if it does not. Read on every call by `LeaderGate`,
/// and by the coordinator before every action that changes a ticket (`LeadershipFence`).
///
/// Leadership is held only until a local deadline that expires before etcd could give it to anyone else: the
/// send time of the last renewal etcd answered, plus the lease's TTL, less a margin (`extendLease`). A coordinator
/// that was paused or starved past it stops acting at once, whatever its tasks have not noticed yet.
public final class ClusterRole: LeadershipFence {
    /// Where a coordinator stands.
    public enum State: Sendable, Hashable {
        /// Campaigning; `leader` is the current leader's address, nil while none is known.
        case follower(leader: String?)
        /// Leading: admitting and pairing. `term` counts the cluster's leaderships, this one included.
        case leader(term: Int)
    }

    private struct Stored {
        var state = State.follower(leader: nil)
        /// Until when leadership is held (meaningful while `state` is `.leader`).
        var leaseValidUntil = ContinuousClock.Instant.now
        /// Why this coordinator does not lead, when something is wrong (etcd unreachable, no quorum).
        var problem: String?
    }

    private let stored = Mutex(Stored())

    public init() {}

    /// The state now: a leadership whose local lease deadline has passed reads as following no known leader.
    public var current: State {
        stored.withLock { stored in
            if case .leader = stored.state, ContinuousClock.now >= stored.leaseValidUntil {
                return .follower(leader: nil)
            }
            return stored.state
        }
    }

    public var isLeader: Bool {
        if case .leader = current { return true }
        return false
    }

    public var holdsLeadership: Bool { isLeader }

    /// What keeps this coordinator from leading, when it is not merely waiting its turn (for refusals' messages).
    public var problem: String? { stored.withLock { $0.problem } }

    /// Leads from now until `validUntil` (extended by `extendLease`).
    func becomeLeader(term: Int, validUntil: ContinuousClock.Instant) {
        stored.withLock {
            $0.state = .leader(term: term)
            $0.leaseValidUntil = validUntil
            $0.problem = nil
        }
    }

    /// Moves the local lease deadline later (never earlier): etcd answered a renewal.
    func extendLease(until deadline: ContinuousClock.Instant) {
        stored.withLock { $0.leaseValidUntil = max($0.leaseValidUntil, deadline) }
    }

    /// The local lease deadline, while leading.
    var leaseValidUntil: ContinuousClock.Instant? {
        stored.withLock { stored in
            if case .leader = stored.state { return stored.leaseValidUntil }
            return nil
        }
    }

    /// Gives leadership up (lease lost, deposed, etcd unreachable): a follower of whoever etcd names next.
    func stepDown(problem: String?) {
        stored.withLock {
            $0.state = .follower(leader: nil)
            $0.problem = problem
        }
    }

    /// Records why this coordinator cannot campaign now (nil once it can again).
    func report(problem: String?) { stored.withLock { $0.problem = problem } }

    /// Records the leader a follower observed (another coordinator: never this one's own address); ignored while
    /// leading.
    func observed(leader: String?) {
        stored.withLock { stored in
            if case .follower = stored.state { stored.state = .follower(leader: leader) }
        }
    }
}
