import HandoffClient
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Logging
import Synchronization

/// What an inference engine embeds to hand KV through Handoff: it registers the engine's KV memory with the data
/// plane, joins the coordinator as a prefill or decode worker, turns the coordinator's instructions into
/// `ConnectorEvent`s and the engine's answers into reports.
///
/// The runtime owns the protocol (grants after prefill, revocation before a release reaches the engine, leases,
/// pulls and their cancellation, reconnecting with back-off); the engine owns its blocks and its compute. Make one
/// with `start`, run `run()` (a task, or a `ServiceGroup` service), read events with `nextEvent()` (or, from C,
/// `waitEvent` and `eventFileDescriptor`), and answer with the methods in `ConnectorRuntime+Answers`. `close()`
/// ends it in order. Every method is safe to call from any thread.
public final class ConnectorRuntime: Sendable {
    public let configuration: ConnectorConfiguration
    /// What the runtime registered with the coordinator: identity, layout, descriptor, compatibility hash.
    public let registration: WorkerRegistration
    /// The data plane the pool is registered with.
    public let transport: any Transport
    /// The engine's KV pool as the data plane sees it.
    public let pool: LocalPool
    /// The pool's descriptor, as peers receive it.
    public let descriptor: PoolDescriptor
    let session: WorkerSession
    let peers: KVPeerTable
    let puller: KVPuller
    let events: ConnectorEventQueue
    let logger: Logger
    let book = Mutex(TicketBook())
    let load = Mutex(WorkerLoad(freeBlocks: 0, queueDepth: 0))
    let pullOrders: AsyncStream<PullOrder>.Continuation
    let pullQueue: AsyncStream<PullOrder>

    private init(
        configuration: ConnectorConfiguration, registration: WorkerRegistration, transport: any Transport,
        pool: LocalPool,
        descriptor: PoolDescriptor, events: ConnectorEventQueue, logger: Logger
    ) {
        self.configuration = configuration
        self.registration = registration
        self.transport = transport
        self.pool = pool
        self.descriptor = descriptor
        self.events = events
        self.logger = logger
        session = WorkerSession(registration: registration, coordinator: configuration.coordinator, logger: logger)
        peers = KVPeerTable(transport: transport, logger: logger)
        puller = KVPuller(transport: transport, pool: pool, peers: peers)
        // Pull orders are bounded by the reserved tickets, which the pool's blocks bound.
        (pullQueue, pullOrders) = AsyncStream.makeStream(of: PullOrder.self)
        load.withLock { $0.freeBlocks = pool.layout.numBlocks }
    }

    /// Starts the data plane, registers the pool and derives what the coordinator is told; the session opens in
    /// `run()`.
    ///
    /// - Throws: `ConnectorError.registration` for a layout or memory that cannot be registered (a buffer shorter
    ///   than the layout's region, the wrong number of buffers), `.dataPlane` when the transport cannot start.
    /// - Parameter transport: a data plane to use instead of the one `configuration.transport` selects (the
    ///   control-plane benchmark's, which moves no bytes); the runtime shuts it down when it stops.
    public static func start(
        _ configuration: ConnectorConfiguration, memory: ConnectorMemory, transport given: (any Transport)? = nil,
        logger: Logger = Logger(label: "handoff.connector")
    ) async throws(ConnectorError) -> ConnectorRuntime {
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.id)"
        let layout: KVLayout
        do {
            layout = try configuration.layout.layout()
        } catch {
            throw .registration("\(error)")
        }
        let events = try ConnectorEventQueue(capacity: max(1, configuration.eventCapacity))
        let transport: any Transport
        if let given {
            transport = given
        } else {
            do {
                transport = try configuration.transport.make(
                    ucxTransports: configuration.ucxTransports,
                    tcp: .init(
                        listenHost: configuration.tcpListenHost, advertisedHosts: configuration.tcpAdvertisedHosts,
                        tls: configuration.effectiveDataPlaneTLS),
                    logger: logger)
            } catch {
                throw .dataPlane(error)
            }
        }
        do {
            let pool = try await register(layout, memory: memory, on: transport)
            // Over native TCP, peers reach only the blocks of tickets granted to them (UCX cannot check grants).
            try transport.requireGrants(on: pool)
            let descriptor = try transport.descriptor(of: pool)
            if let makeAnswer = configuration.probeAnswer {
                answerProbes(on: transport, with: makeAnswer(try descriptor.offers()), logger: logger)
            }
            let registration = WorkerRegistration(
                identity: WorkerIdentity(id: configuration.id, instance: UInt64.random(in: 1...UInt64.max)),
                role: configuration.role, layout: configuration.layout, descriptor: descriptor.encoded(),
                node: configuration.node, rack: configuration.rack,
                compatibility: CompatibilityHash.of(configuration.layout), transports: [transport.name],
                endpoint: configuration.endpoint)
            return ConnectorRuntime(
                configuration: configuration, registration: registration, transport: transport, pool: pool,
                descriptor: descriptor, events: events, logger: logger)
        } catch let error as ConnectorError {
            await transport.shutdown()
            throw error
        } catch let error as DataPlaneError {
            await transport.shutdown()
            throw .dataPlane(error)
        } catch {
            await transport.shutdown()
            throw .registration("\(error)")
        }
    }

    private static func register(
        _ layout: KVLayout, memory: ConnectorMemory, on transport: any Transport
    ) async throws -> LocalPool {
        switch memory {
        case .allocate:
            return try await transport.allocatePool(layout, memoryType: .host)
        case .engine(let regions):
            guard regions.count == layout.regionCount else {
                throw ConnectorError.registration(
                    "\(regions.count) buffers for a layout of \(layout.regionCount) layers")
            }
            for (index, region) in regions.enumerated()
            where region.baseAddress == nil || region.count < layout.regionBytes {
                throw ConnectorError.registration(
                    "buffer \(index) holds \(region.count) bytes; the layout needs \(layout.regionBytes) per layer")
            }
            return try await transport.registerPool(layout, regions: regions, memoryType: .host)
        }
    }

    /// Lets the native TCP data plane, if the transport runs one, answer topology probes.
    private static func answerProbes(
        on transport: any Transport, with provider: @escaping DataPlaneProbe.AnswerProvider, logger: Logger
    ) {
        switch transport {
        case let auto as AutoTransport: auto.tcp.answerProbes(with: provider)
        case let tcp as TCPTransport: tcp.answerProbes(with: provider)
        default: logger.info("topology probes are not answered: no native TCP data plane runs (--transport ucx)")
        }
    }

    /// Runs the session with the coordinator (reconnecting with back-off), the pulls and the lease clock until
    /// `close()` or cancellation; then releases every ticket, disconnects every peer and shuts the data plane down.
    ///
    /// - Throws: the coordinator's `RPCError` when it refuses the registration (wrong layout, hash or token).
    public func run() async throws {
        logger.info(
            "connector up",
            metadata: [
                "role": "\(configuration.role.rawValue)", "pool_bytes": "\(pool.layout.totalBytes)",
                "instance": "\(registration.identity)", "transport": "\(transport.name)",
            ])
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await self.session.runReconnecting(
                        load: { self.load.withLock { $0 } }, handle: { await self.handle($0) },
                        sessionEnded: { await self.releaseAll(reason: "the session with the coordinator ended") })
                }
                group.addTask { await self.pullLoop() }
                group.addTask { await self.leaseLoop() }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Ends the runtime in order: the session with the coordinator closes (the coordinator takes the worker out of
    /// service as an orderly end) and `run()` returns once it has released everything. Idempotent.
    public func close() {
        session.close()
        pullOrders.finish()
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { session.isClosed }

    /// Whether the runtime has stopped: no event follows those still queued.
    public var hasStopped: Bool { events.isClosed }

    private func stop() async {
        pullOrders.finish()
        await releaseAll(reason: "the connector runtime stopped")
        events.close()
        await peers.closeAll()
        await transport.release(pool)
        await transport.shutdown()
        logger.info("connector stopped")
    }

    // MARK: Events and load

    /// The next event, waiting for one; nil once the runtime has stopped and every event was read.
    public func nextEvent() async -> ConnectorEvent? { await events.next() }

    /// The next event if one is queued now.
    public func pollEvent() -> ConnectorEvent? { events.poll() }

    /// The next event, blocking the calling thread up to `timeout`; nil when none came or the runtime stopped.
    /// For foreign (C, Python) threads; never call it from a Swift task.
    public func waitEvent(timeout: Duration) -> ConnectorEvent? { events.waitBlocking(timeout: timeout) }

    /// A file descriptor that is readable while events are queued (an eventfd), for `poll`/`epoll`/asyncio.
    /// Owned by the runtime; valid until it is deinitialized.
    public var eventFileDescriptor: Int32 { events.fileDescriptor }

    /// Sets the load sent in the next heartbeats: the engine's free blocks and queued requests.
    public func updateLoad(_ load: WorkerLoad) { self.load.withLock { $0 = load } }
}
