import CLinuxMemory
import Foundation
import HandoffCore
import Histogram
import Synchronization

/// One transfer's copies, split by bytes over `threads` threads of their own (a memcpy of a KV cache must not
/// hold a cooperative thread, and one core's copy rarely saturates memory), with per-op latency, a deadline and
/// cancellation checked between ops. Streaming stores: the destination is KV the engine reads later, not now, so
/// it need not pass through the cache.
struct SharedMemoryCopy: Sendable {
    enum Outcome: Sendable {
        case done
        case cancelled
        case timedOut
    }

    struct Result: Sendable {
        var outcome: Outcome
        /// Copies done and to do (ops, long ones cut at `pieceLimit`).
        var completedOps: Int
        var totalOps = 0
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
    let threads: Int

    /// Runs the copies; `mapping` stays alive until they are done. Cancelling the calling task, or `control`,
    /// stops them at the next op; `control` is finished once every copy thread has ended.
    func run(keeping mapping: SharedPeerMapping, control: ActiveCopy) async -> Result {
        let parts = Self.partition(ops, into: threads)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
                let gathered = Mutex<[Result]>([])
                for part in parts {
                    let thread = Thread {
                        let result = withExtendedLifetime(mapping) { copy(part, cancelled: control.cancelled) }
                        let all = gathered.withLock { results -> [Result]? in
                            results.append(result)
                            return results.count == parts.count ? results : nil
                        }
                        if let all {
                            control.finish()
                            continuation.resume(returning: Self.merge(all, totalOps: parts.reduce(0) { $0 + $1.count }))
                        }
                    }
                    thread.name = "handoff-shm-copy"
                    thread.start()
                }
            }
        } onCancel: {
            control.cancelled.store(true, ordering: .relaxed)
        }
    }

    /// Ops longer than this are copied in pieces of this size, so that a few large runs still split over threads.
    static let pieceLimit = 4 << 20

    /// Consecutive slices of `ops` (long ops cut at `pieceLimit`) holding about the same bytes each; at least one,
    /// at most `count`.
    static func partition(_ ops: [CopyOp], into count: Int) -> [ArraySlice<CopyOp>] {
        let total = ops.reduce(0) { $0 + $1.length }
        guard count > 1, total > 0 else { return [ops[...]] }
        let ops = ops.contains { $0.length > pieceLimit } ? ops.flatMap(cut) : ops
        guard ops.count > 1 else { return [ops[...]] }
        let share = (total + count - 1) / count
        var parts: [ArraySlice<CopyOp>] = []
        var start = 0
        var bytes = 0
        for (index, op) in ops.enumerated() where parts.count < count - 1 {
            bytes += op.length
            let target = share * (parts.count + 1)
            guard bytes >= target else { continue }
            // End the part before or after this op, whichever is nearer its share.
            if bytes - target > target - (bytes - op.length), index > start {
                parts.append(ops[start..<index])
                start = index
            } else {
                parts.append(ops[start...index])
                start = index + 1
            }
        }
        if start < ops.count { parts.append(ops[start...]) }
        return parts
    }

    private static func cut(_ op: CopyOp) -> [CopyOp] {
        stride(from: 0, to: op.length, by: pieceLimit).map { offset in
            CopyOp(
                sourceRegion: op.sourceRegion, sourceOffset: op.sourceOffset + offset,
                destinationRegion: op.destinationRegion, destinationOffset: op.destinationOffset + offset,
                length: min(pieceLimit, op.length - offset))
        }
    }

    private static func merge(_ results: [Result], totalOps: Int) -> Result {
        var merged = results[0]
        merged.totalOps = totalOps
        for result in results.dropFirst() {
            merged.completedOps += result.completedOps
            merged.started = min(merged.started, result.started)
            merged.latencies.add(result.latencies)
            if result.outcome != .done, merged.outcome == .done { merged.outcome = result.outcome }
        }
        return merged
    }

    private func copy(_ part: ArraySlice<CopyOp>, cancelled: borrowing Atomic<Bool>) -> Result {
        var latencies = LatencySummary.histogram()
        let started = MonotonicClock.nanos()
        var before = started
        var completed = 0
        defer { handoff_copy_fence() }
        for op in part {
            if cancelled.load(ordering: .relaxed) {
                return Result(outcome: .cancelled, completedOps: completed, started: started, latencies: latencies)
            }
            if before > deadline {
                return Result(outcome: .timedOut, completedOps: completed, started: started, latencies: latencies)
            }
            handoff_copy_streaming(
                UnsafeMutableRawPointer(bitPattern: destinations[op.destinationRegion] + UInt(op.destinationOffset))!,
                UnsafeRawPointer(bitPattern: sources[op.sourceRegion] + UInt(op.sourceOffset))!, op.length)
            let after = MonotonicClock.nanos()
            latencies.record(after &- before)
            before = after
            completed += 1
        }
        return Result(outcome: .done, completedOps: completed, started: started, latencies: latencies)
    }
}
