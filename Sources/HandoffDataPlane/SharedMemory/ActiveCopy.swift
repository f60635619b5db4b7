import Synchronization

/// A same-host copy in flight: which local pool's memory it touches, how to stop it, and a way to wait until it
/// has stopped, so that releasing that memory or shutting down never races a copy thread.
final class ActiveCopy: Sendable {
    /// The local pool whose memory the copy reads or writes.
    let local: ObjectIdentifier
    /// Set to stop the copy at its next op.
    let cancelled = Atomic<Bool>(false)
    private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(local: LocalPool) { self.local = ObjectIdentifier(local) }

    /// Marks the copy stopped and wakes whoever waits for it.
    func finish() {
        let waiters = state.withLock { state in
            state.done = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops the copy and returns once no copy thread touches memory any more.
    func stop() async {
        cancelled.store(true, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }
}
