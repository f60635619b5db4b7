/// What pairing reads of a worker on every decision: its fixed labels as a candidate and its load counters. A
/// class, shared by the worker's record and the coordinator's `PairingIndex`, so that a decision reads each
/// worker without copying its whole record, and a change of load moves the worker within the index at once.
final class WorkerLoadState {
    /// The worker's identity, model, hash and labels (with their interned group keys); free blocks and load are
    /// filled in by `candidate()`.
    let base: PairingCandidate
    /// Its interned compatibility hash, rack and node: the pairing groups it belongs to.
    let keys: PairingCandidate.GroupKeys
    /// Free blocks as of the last heartbeat, adjusted by what the coordinator learned since.
    var reportedFree: Int { didSet { rankChanged() } }
    /// Blocks promised to admitted tickets that the worker has not allocated yet.
    var pendingBlocks = 0 { didSet { rankChanged() } }
    var queueDepth = 0 { didSet { rankChanged() } }
    /// Tickets in flight on this worker.
    var inFlight = 0 { didSet { rankChanged() } }

    /// Its place in its pairing groups as of the last change (set by the index).
    var rank: PairingRank
    /// The groups of the index that order it; empty while it is not indexed.
    var memberships: [Membership] = []

    init(base: PairingCandidate, keys: PairingCandidate.GroupKeys, reportedFree: Int) {
        var base = base
        base.groupKeys = keys
        self.base = base
        self.keys = keys
        self.reportedFree = reportedFree
        rank = PairingRank(load: 0, lessFree: 0, id: base.identity.id)
    }

    /// Blocks the worker can still take.
    var effectiveFree: Int { max(0, reportedFree - pendingBlocks) }

    /// Tickets in flight plus the queue depth it reported.
    var load: Int { inFlight + queueDepth }

    /// Its rank from its counters now.
    var currentRank: PairingRank {
        PairingRank(load: load, lessFree: base.role == .prefill ? 0 : -effectiveFree, id: base.identity.id)
    }

    func candidate() -> PairingCandidate {
        var candidate = base
        candidate.freeBlocks = effectiveFree
        candidate.load = load
        return candidate
    }

    /// Moves it within its groups when a counter changed its rank.
    private func rankChanged() {
        guard !memberships.isEmpty else { return }
        let new = currentRank
        guard new != rank else { return }
        let old = rank
        rank = new
        for membership in memberships { membership.group?.reorder(self, from: old) }
    }

    /// A group that orders it, held weakly: the index owns its groups.
    struct Membership {
        weak var group: PairingGroup?
    }
}
