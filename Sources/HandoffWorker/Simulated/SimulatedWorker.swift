import GRPCCore
import HandoffControlPlane
import HandoffDataPlane
import Logging
import Synchronization

/// A whole simulated worker process: its data plane, its KV pool, its session with the coordinator (reconnecting
/// after the coordinator goes away) and its engine.
public final class SimulatedWorker: Sendable {
    public let configuration: SimulatedWorkerConfiguration
    public let coordinator: CoordinatorAddress
    let logger: Logger
    /// The session `run` opened, once it has, and whether `shutDown` was called.
    private let lifecycle = Mutex<(session: WorkerSession?, stopping: Bool)>((nil, false))

    public init(configuration: SimulatedWorkerConfiguration, coordinator: CoordinatorAddress, logger: Logger = Logger(label: "handoff.worker")) {
        self.configuration = configuration
        self.coordinator = coordinator
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.id)"
        self.logger = logger
    }

    /// Runs until cancelled. A refused registration is not retried: it throws.
    public func run() async throws {
        let transport = try configuration.transport.make(
            ucxTransports: configuration.ucxTransports, tcp: .init(listenHost: configuration.tcpListenHost), logger: logger)
        let pool = try await transport.allocatePool(try configuration.layoutSpec.layout(), memoryType: .host)
        // Over native TCP, peers reach only the blocks of tickets granted to them (UCX cannot check grants).
        try transport.requireGrants(on: pool)
        let descriptor = try transport.descriptor(of: pool)
        if let makeAnswer = configuration.probeAnswer { answerProbes(on: transport, with: makeAnswer(try descriptor.offers())) }
        let spec = configuration.layoutSpec
        let registration = WorkerRegistration(
            identity: WorkerIdentity(id: configuration.id, instance: UInt64.random(in: 1...UInt64.max)),
            role: configuration.role, layout: spec, descriptor: descriptor.encoded(), node: configuration.node,
            rack: configuration.rack, compatibility: CompatibilityHash.of(spec), transports: [transport.name])
        let session = WorkerSession(registration: registration, coordinator: coordinator, logger: logger)
        lifecycle.withLock { lifecycle in
            lifecycle.session = session
            if lifecycle.stopping { session.close() }
        }
        let peers = KVPeerTable(transport: transport, logger: logger)
        let engine = SimulatedEngine(
            configuration: configuration, pool: pool, session: session,
            puller: KVPuller(transport: transport, pool: pool, peers: peers), logger: logger)
        logger.info(
            "worker up", metadata: ["role": "\(configuration.role.rawValue)", "pool_bytes": "\(pool.layout.totalBytes)", "instance": "\(registration.identity)"])
        defer { logger.info("worker stopping") }
        do {
            let logger = self.logger
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await engine.run() }
                group.addTask { try await Self.keepSession(session, engine: engine, logger: logger) }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await peers.closeAll()
            await transport.shutdown()
            throw error
        }
        await peers.closeAll()
        await transport.shutdown()
    }

    /// Begins an orderly shutdown: the session with the coordinator is closed (the coordinator takes the worker
    /// out of service as an orderly end), and `run` returns once it has ended. Cancel `run` to stop at once.
    public func shutDown() {
        let session = lifecycle.withLock { lifecycle in
            lifecycle.stopping = true
            return lifecycle.session
        }
        session?.close()
    }

    /// Lets the native TCP data plane, if this worker runs one, answer topology probes.
    private func answerProbes(on transport: any Transport, with provider: @escaping DataPlaneProbe.AnswerProvider) {
        switch transport {
        case let auto as AutoTransport: auto.tcp.answerProbes(with: provider)
        case let tcp as TCPTransport: tcp.answerProbes(with: provider)
        default: logger.info("topology probes are not answered: this worker runs no native TCP data plane (--transport ucx)")
        }
    }

    /// Runs the session again after it ends, with back-off, until it is closed; a refused registration ends the
    /// worker.
    static func keepSession(_ session: WorkerSession, engine: SimulatedEngine, logger: Logger) async throws {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled && !session.isClosed {
            do {
                try await session.run(load: { await engine.load() }, handle: { await engine.handle($0) })
                if session.isClosed { return }
                logger.warning("session ended by the coordinator; reconnecting")
                backoff = .milliseconds(100)
            } catch let error as RPCError where [.invalidArgument, .unauthenticated, .permissionDenied].contains(error.code) {
                throw error  // retrying cannot help: wrong layout, hash or token
            } catch {
                if Task.isCancelled || session.isClosed { return }
                logger.warning("session failed: \(error); retrying in \(backoff)")
            }
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }
}
