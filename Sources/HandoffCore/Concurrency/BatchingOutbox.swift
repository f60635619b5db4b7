import Synchronization

/// A many-producer, one-consumer queue whose consumer takes everything queued at once.
///
/// Made for message streams: producers `send` without waiting (from an actor, a lock, any thread), and the one
/// writer loop takes whole batches with `nextBatch()` and hands each to a single `write(contentsOf:)`, so a burst
/// of messages costs one flush instead of one per message. `send` never waits and never refuses an open outbox; a
/// producer that can pause its own input bounds the queue with `waitForRoom(below:)`.
public final class BatchingOutbox<Element: Sendable>: Sendable {
    private struct State {
        var queued: [Element] = []
        var waiting: CheckedContinuation<[Element]?, Never>?
        /// A producer waiting in `waitForRoom` for the consumer to take a batch.
        var waitingForRoom: CheckedContinuation<Void, Never>?
        var finished = false

        /// Wakes the producer waiting for room, if any.
        mutating func takeRoomWaiter() -> CheckedContinuation<Void, Never>? {
            defer { waitingForRoom = nil }
            return waitingForRoom
        }
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
        let (waiting, producer) = state.withLock { state in
            state.finished = true
            defer { state.waiting = nil }
            return (state.waiting, state.takeRoomWaiter())
        }
        waiting?.resume(returning: nil)
        producer?.resume()
    }

    /// Takes everything queued now without waiting: for moving a queue that no consumer ever read (instructions held
    /// for a worker that has not connected yet) into the outbox of the session that will read it.
    public func takeQueued() -> [Element] {
        state.withLock { state in
            var taken: [Element] = []
            swap(&taken, &state.queued)
            return taken
        }
    }

    /// Elements queued and not yet taken by the consumer.
    public var queuedCount: Int { state.withLock { $0.queued.count } }

    /// Waits while `limit` or more elements are queued, until the consumer takes them, the outbox is finished or
    /// the caller is cancelled: back-pressure for a producer that reads its input at its own pace. Only one task
    /// may wait at a time.
    public func waitForRoom(below limit: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let room = state.withLock { state in
                    if state.queued.count < limit || state.finished || Task.isCancelled { return true }
                    precondition(state.waitingForRoom == nil, "BatchingOutbox has one producer waiting for room")
                    state.waitingForRoom = continuation
                    return false
                }
                if room { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.takeRoomWaiter() }?.resume()
        }
    }

    /// Whether the outbox is finished: `finish()` was called or the consumer was cancelled.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Everything queued, oldest first, waiting while nothing is; nil once finished and drained. Only one task may
    /// consume. Cancelling the consumer finishes the outbox: it returns nil and later sends are dropped.
    public func nextBatch() async -> [Element]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element]?, Never>) in
                let (ready, producer): ([Element]??, CheckedContinuation<Void, Never>?) = state.withLock { state in
                    if !state.queued.isEmpty {
                        var batch: [Element] = []
                        swap(&batch, &state.queued)
                        return (.some(batch), state.takeRoomWaiter())
                    }
                    if Task.isCancelled { state.finished = true }
                    if state.finished { return (.some(nil), state.takeRoomWaiter()) }
                    precondition(state.waiting == nil, "BatchingOutbox has one consumer")
                    state.waiting = continuation
                    return (.none, nil)
                }
                producer?.resume()
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let (waiting, producer) = state.withLock { state in
                state.finished = true
                defer { state.waiting = nil }
                return (state.waiting, state.takeRoomWaiter())
            }
            waiting?.resume(returning: nil)
            producer?.resume()
        }
    }
}
