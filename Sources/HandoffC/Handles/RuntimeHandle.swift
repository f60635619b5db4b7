import Dispatch
import HandoffConnector
import Synchronization

/// What a `handoff_runtime *` points to: a connector runtime and the task running it.
final class RuntimeHandle: Sendable {
    let runtime: ConnectorRuntime
    /// Left when `run()` has returned.
    private let running = DispatchGroup()
    /// Why `run()` ended; nil while it runs.
    private let ending = Mutex<String?>(nil)

    /// Starts `runtime.run()` as a task.
    init(runtime: ConnectorRuntime) {
        self.runtime = runtime
        running.enter()
        Task { [self] in
            let reason: String
            do {
                try await runtime.run()
                reason = "the connector runtime was closed"
            } catch {
                reason = "the connector runtime stopped: \(error)"
            }
            ending.withLock { $0 = reason }
            running.leave()
        }
    }

    /// Blocks until `run()` has returned and says why it ended.
    func waitUntilStopped() -> String {
        running.wait()
        return ending.withLock { $0 ?? "the connector runtime stopped" }
    }

    /// Closes the runtime and blocks until it has stopped, discarding the events it still queues: the engine that
    /// destroys it reads no more, and a full queue must not hold the shutdown (whose releases are events too).
    func closeDiscardingEvents() {
        runtime.close()
        while running.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            while runtime.pollEvent() != nil {}
        }
    }
}
