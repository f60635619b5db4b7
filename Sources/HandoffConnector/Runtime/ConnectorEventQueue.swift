import Glibc
import Synchronization

/// The runtime's events on their way to the engine: a bounded FIFO that Swift code awaits and C code polls, with
/// a pipe whose read end is readable exactly while events are queued (one byte per event).
///
/// A full queue makes the producer (the session reading the coordinator's instructions) wait, so an engine that
/// stops reading slows its session down instead of growing memory.
final class ConnectorEventQueue: Sendable {
    private struct State: ~Copyable {
        var events: [ConnectorEvent] = []  // at most `capacity` (4096): removing the first is cheap enough
        var consumers: [CheckedContinuation<ConnectorEvent?, Never>] = []
        var producers: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }

    /// The most events queued at once.
    let capacity: Int
    /// Readable while events are queued; a C caller waits on it with `poll`.
    let fileDescriptor: Int32
    /// The pipe's write end: one byte per queued event (the pipe holds 64 KiB, more than `capacity`).
    private let signalDescriptor: Int32
    private let state = Mutex(State())

    /// - Throws: `ConnectorError.registration` when no pipe can be made (descriptor limit).
    init(capacity: Int = 4096) throws(ConnectorError) {
        self.capacity = min(capacity, 16_384)
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw .registration("pipe: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = ends[0]
        signalDescriptor = ends[1]
    }

    deinit {
        Glibc.close(fileDescriptor)
        Glibc.close(signalDescriptor)
    }

    /// Queues `event`, waiting while the queue is full. Dropped when the queue is closed.
    func push(_ event: ConnectorEvent) async {
        while true {
            enum Step {
                case done
                case wait
                case handOff(CheckedContinuation<ConnectorEvent?, Never>)
            }
            let step: Step = state.withLock { state in
                if state.closed { return .done }
                if !state.consumers.isEmpty { return .handOff(state.consumers.removeFirst()) }
                guard state.events.count < capacity else { return .wait }
                state.events.append(event)
                signal()
                return .done
            }
            switch step {
            case .done: return
            case .handOff(let consumer):
                consumer.resume(returning: event)
                return
            case .wait:
                await withCheckedContinuation { continuation in
                    let admitted = state.withLock { state in
                        if state.closed || state.events.count < capacity { return true }
                        state.producers.append(continuation)
                        return false
                    }
                    if admitted { continuation.resume() }
                }
            }
        }
    }

    /// The next event, waiting for one; nil once the queue is closed and drained.
    func next() async -> ConnectorEvent? {
        await withCheckedContinuation { continuation in
            let ready: ConnectorEvent?? = state.withLock { state in
                if let event = popLocked(&state) { return .some(event) }
                if state.closed { return .some(nil) }
                state.consumers.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The next event if one is queued now.
    func poll() -> ConnectorEvent? {
        state.withLock { popLocked(&$0) }
    }

    /// The next event, blocking the calling (non-Swift) thread up to `timeout`; nil when none came or the queue
    /// is closed. Never call this from a Swift task.
    func waitBlocking(timeout: Duration) -> ConnectorEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let event = poll() { return event }
            if isClosed { return nil }
            let left = deadline - .now
            guard left > .zero else { return nil }
            var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: max(1, min(left.nanoseconds / 1_000_000 + 1, 100)))
            _ = Glibc.poll(&descriptor, 1, milliseconds)
        }
    }

    /// Whether `close` was called.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Ends the queue: waiting consumers get nil once it is drained, producers return, later pushes are dropped.
    func close() {
        let (consumers, producers) = state.withLock { state in
            state.closed = true
            defer {
                state.consumers.removeAll()
                state.producers.removeAll()
            }
            return (state.consumers, state.producers)
        }
        for consumer in consumers { consumer.resume(returning: nil) }
        for producer in producers { producer.resume() }
        var byte: UInt8 = 1
        _ = write(signalDescriptor, &byte, 1)  // wakes a blocked poll; the count no longer matters
    }

    /// Removes the first event, keeps one byte in the pipe per queued event and admits one waiting
    /// producer.
    private func popLocked(_ state: inout State) -> ConnectorEvent? {
        guard !state.events.isEmpty else { return nil }
        let event = state.events.removeFirst()
        var byte: UInt8 = 0
        _ = read(fileDescriptor, &byte, 1)
        if !state.producers.isEmpty { state.producers.removeFirst().resume() }
        return event
    }

    private func signal() {
        var byte: UInt8 = 1
        _ = write(signalDescriptor, &byte, 1)
    }
}
