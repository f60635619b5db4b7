import CLinuxMemory
import Foundation
import HandoffCore
import Histogram
import Synchronization

/// One transfer's copies, run on a thread of its own (a memcpy of a KV cache must not hold a cooperative thread),
/// with per-op latency, a deadline and cancellation checked between ops. Streaming stores: the destination is
/// KV the engine reads later, not now, so it need not pass through the cache.
struct SharedMemoryCopy: Sendable {
    enum Outcome: Sendable {
        case done
        case cancelled
        case timedOut
    }

    struct Result: Sendable {
        var outcome: Outcome
        var completedOps: Int
        /// When the first op started (monotonic nanoseconds).
        var started: UInt64
        var latencies: Histogram<UInt64>
    }

    let ops: [CopyOp]
    /// Start address of each region on either side, in this process.
    let sources: [UInt]
    let destinations: [UInt]
    /// Monotonic nanoseconds.
    let deadline: UInt64

    /// Runs the copies; `mapping` stays alive until they are done. Cancelling the calling task stops them at the
    /// next op.
    func run(keeping mapping: SharedPeerMapping) async -> Result {
        let cancelled = Atomic<Bool>(false)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
                let thread = Thread {
                    withExtendedLifetime(mapping) { continuation.resume(returning: copy(cancelled: cancelled)) }
                }
                thread.name = "handoff-shm-copy"
                thread.start()
            }
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
        }
    }

    private func copy(cancelled: borrowing Atomic<Bool>) -> Result {
        var latencies = LatencySummary.histogram()
        let started = MonotonicClock.nanos()
        var before = started
        for (index, op) in ops.enumerated() {
            if cancelled.load(ordering: .relaxed) {
                handoff_copy_fence()
                return Result(outcome: .cancelled, completedOps: index, started: started, latencies: latencies)
            }
            if before > deadline {
                handoff_copy_fence()
                return Result(outcome: .timedOut, completedOps: index, started: started, latencies: latencies)
            }
            handoff_copy_streaming(
                UnsafeMutableRawPointer(bitPattern: destinations[op.destinationRegion] + UInt(op.destinationOffset))!,
                UnsafeRawPointer(bitPattern: sources[op.sourceRegion] + UInt(op.sourceOffset))!, op.length)
            let after = MonotonicClock.nanos()
            latencies.record(after &- before)
            before = after
        }
        handoff_copy_fence()
        return Result(outcome: .done, completedOps: ops.count, started: started, latencies: latencies)
    }
}
