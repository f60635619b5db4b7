/// What pairing reads of a worker on every decision: its fixed labels as a candidate and its load counters. A
/// class, shared by the worker's record and the coordinator's per-model index, so that a decision reads each
/// worker without copying its whole record.
final class WorkerLoadState {
    /// The worker's identity, model, hash and labels (with their interned group keys); free blocks and load are
    /// filled in by `candidate()`.
    let base: PairingCandidate
    /// Free blocks as of the last heartbeat, adjusted by what the coordinator learned since.
    var reportedFree: Int
    /// Blocks promised to admitted tickets that the worker has not allocated yet.
    var pendingBlocks = 0
    var queueDepth = 0
    /// Tickets in flight on this worker.
    var inFlight = 0

    init(base: PairingCandidate, reportedFree: Int) {
        self.base = base
        self.reportedFree = reportedFree
    }

    /// Blocks the worker can still take.
    var effectiveFree: Int { max(0, reportedFree - pendingBlocks) }

    func candidate() -> PairingCandidate {
        var candidate = base
        candidate.freeBlocks = effectiveFree
        candidate.load = inFlight + queueDepth
        return candidate
    }
}
