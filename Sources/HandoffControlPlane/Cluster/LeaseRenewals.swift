/// The renewals of a coordinator's own etcd lease, and the local deadline they prove: a value that the keep-alive
/// loop and etcd's answers update.
///
/// etcd restarts a lease's TTL when it receives a renewal, never before it was sent, so a lease whose renewal was
/// sent at `s` and answered lives at etcd until at least `s + TTL`. Answers are matched to the oldest renewal not
/// answered yet, which is at least as early as the one answered: the deadline errs early, never late.
struct LeaseRenewals {
    /// The lease's TTL as etcd granted it.
    let ttl: Duration
    /// Until when the lease surely lives at etcd, less `margin`.
    private(set) var validUntil: ContinuousClock.Instant
    /// When the oldest renewal not answered yet was sent.
    private var unansweredSince: ContinuousClock.Instant?
    /// Set when etcd answered that the lease no longer exists.
    private var gone = false

    /// - Parameter granted: when the grant was asked for (the lease lives from no earlier).
    init(granted: ContinuousClock.Instant, ttl: Duration) {
        self.ttl = ttl
        validUntil = granted + ttl - Self.margin(ttl)
    }

    /// What the local deadline keeps back from etcd's: a tenth of the TTL, at least 100 ms, for the moments between
    /// a check and the action it allows.
    static func margin(_ ttl: Duration) -> Duration { max(ttl / 10, .milliseconds(100)) }

    /// How often to renew: five times per TTL (at least every 100 ms apart), so that a renewal or two may be late
    /// or lost on a loaded machine without the lease lapsing.
    var interval: Duration { max(ttl / 5, .milliseconds(100)) }

    /// A renewal was sent.
    mutating func sent(at time: ContinuousClock.Instant) {
        if unansweredSince == nil { unansweredSince = time }
    }

    /// etcd answered a renewal with the lease's remaining TTL (0: the lease is gone). Returns the new deadline
    /// when it moved.
    mutating func answered(ttlSeconds: Int64) -> ContinuousClock.Instant? {
        guard ttlSeconds > 0 else {
            gone = true
            return nil
        }
        guard let sent = unansweredSince else { return nil }
        unansweredSince = nil
        let granted = Duration.seconds(ttlSeconds)
        let deadline = sent + granted - Self.margin(granted)
        guard deadline > validUntil else { return nil }
        validUntil = deadline
        return deadline
    }

    /// Why the lease may have lapsed by `time`, or nil while it surely lives.
    func lapse(at time: ContinuousClock.Instant) -> String? {
        if gone { return "etcd says this coordinator's lease no longer exists" }
        guard time >= validUntil else { return nil }
        return "etcd answered no renewal in time (is a majority of its members up and reachable?): the lease "
            + "(TTL \(ttl)) was last proven until \(time - validUntil) ago"
    }
}
