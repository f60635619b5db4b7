import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import Logging
import Synchronization

/// A whole simulated worker process: the connector runtime (data plane, KV pool, session with the coordinator,
/// reconnecting after the coordinator goes away) and the simulated engine answering its events.
public final class SimulatedWorker: Sendable {
    public let configuration: SimulatedWorkerConfiguration
    public let coordinator: CoordinatorAddress
    let logger: Logger
    /// The runtime `run` started, once it has, and whether `shutDown` was called.
    private let lifecycle = Mutex<(runtime: ConnectorRuntime?, stopping: Bool)>((nil, false))

    public init(
        configuration: SimulatedWorkerConfiguration, coordinator: CoordinatorAddress,
        logger: Logger = Logger(label: "handoff.worker")
    ) {
        self.configuration = configuration
        self.coordinator = coordinator
        self.logger = logger
    }

    /// Runs until cancelled or shut down. A refused registration is not retried: it throws.
    public func run() async throws {
        let runtime = try await ConnectorRuntime.start(
            configuration.connector(coordinator: coordinator), memory: .allocate, logger: logger)
        lifecycle.withLock { lifecycle in
            lifecycle.runtime = runtime
            if lifecycle.stopping { runtime.close() }
        }
        let engine = SimulatedEngine(configuration: configuration, runtime: runtime, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            group.addTask { await engine.run() }  // ends when the runtime has stopped and its events are read
            try await group.waitForAll()
        }
    }

    /// Begins an orderly shutdown: the session with the coordinator is closed (the coordinator takes the worker
    /// out of service as an orderly end), and `run` returns once it has ended. Cancel `run` to stop at once.
    public func shutDown() {
        let runtime = lifecycle.withLock { lifecycle in
            lifecycle.stopping = true
            return lifecycle.runtime
        }
        runtime?.close()
    }
}
