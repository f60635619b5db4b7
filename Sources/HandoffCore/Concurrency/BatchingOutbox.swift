import Synchronization

/// An unbounded many-producer, one-consumer queue whose consumer takes everything queued at once.
///
/// Made for message streams: producers `send` without waiting (from an actor, a lock, any thread), and the one
/// writer loop takes whole batches with `nextBatch()` and hands each to a single `write(contentsOf:)`, so a burst
/// of messages costs one flush instead of one per message.
public final class BatchingOutbox<Element: Sendable>: Sendable {
    private struct State {
        var queued: [Element] = []
        var waiting: CheckedContinuation<[Element]?, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    /// An empty, open outbox.
    public init() {}

    /// Queues `element`; returns false (dropping it) once the outbox is finished.
    @discardableResult
    public func send(_ element: Element) -> Bool {
        let (accepted, waiting) = state.withLock { state -> (Bool, CheckedContinuation<[Element]?, Never>?) in
            if state.finished { return (false, nil) }
            if let waiting = state.waiting {
                state.waiting = nil
                return (true, waiting)
            }
            state.queued.append(element)
            return (true, nil)
        }
        waiting?.resume(returning: [element])
        return accepted
    }

    /// Ends the outbox: later sends are dropped; the consumer still gets what was queued, then nil.
    public func finish() {
        let waiting = state.withLock { state in
            state.finished = true
            defer { state.waiting = nil }
            return state.waiting
        }
        waiting?.resume(returning: nil)
    }

    /// Whether the outbox is finished: `finish()` was called or the consumer was cancelled.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Everything queued, oldest first, waiting while nothing is; nil once finished and drained. Only one task may
    /// consume. Cancelling the consumer finishes the outbox: it returns nil and later sends are dropped.
    public func nextBatch() async -> [Element]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element]?, Never>) in
                let ready: [Element]?? = state.withLock { state in
                    if !state.queued.isEmpty {
                        var batch: [Element] = []
                        swap(&batch, &state.queued)
                        return .some(batch)
                    }
                    if Task.isCancelled { state.finished = true }
                    if state.finished { return .some(nil) }
                    precondition(state.waiting == nil, "BatchingOutbox has one consumer")
                    state.waiting = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiting = state.withLock { state in
                state.finished = true
                defer { state.waiting = nil }
                return state.waiting
            }
            waiting?.resume(returning: nil)
        }
    }
}
