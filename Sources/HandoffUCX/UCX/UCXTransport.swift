import CUCX
import Foundation
import HandoffCore
import HandoffDataPlane
import Logging
import Synchronization

/// The UCX data plane: moves block ranges with `ucp_get_nbx` / `ucp_put_nbx` over whatever transports UCX picks
/// for the peer (RDMA where present, shared memory on one host), or those named in `Configuration`. UCX's own tcp
/// transport is left out unless named (`Configuration.defaultTransports` says why).
///
/// Each instance has its own ucp context and worker, progressed on its own thread.
public final class UCXTransport: Transport {
    /// Which UCX transports to use and other UCX settings, per instance.
    public struct Configuration: Sendable, Hashable {
        /// UCX transport names for `TLS` (e.g. `["tcp"]`, `["posix", "cma", "self"]`); nil: `UCX_TLS` when it is
        /// set, otherwise `defaultTransports`.
        public var transports: [String]?
        /// Further UCX settings by name without the `UCX_` prefix (e.g. `["RNDV_THRESH": "8k"]`).
        public var options: [String: String]
        /// How long `connect(to:)` waits for a peer to answer.
        public var connectTimeout: Duration
        /// Whether endpoints ask UCX to detect peer failure.
        public var errorHandling: UCXErrorHandling

        public init(
            transports: [String]? = nil, options: [String: String] = [:], connectTimeout: Duration = .seconds(10),
            errorHandling: UCXErrorHandling = .automatic
        ) {
            self.transports = transports
            self.options = options
            self.connectTimeout = connectTimeout
            self.errorHandling = errorHandling
        }

        /// The transports when none are named and `UCX_TLS` is not set: all of UCX's but `tcp`.
        ///
        /// UCX 1.13 emulates RMA over its tcp transport in software, and the serving side of that emulation aborts
        /// its process (`ucs_fatal` in `ucp_request_send`) when the connection breaks while it answers a GET or
        /// acknowledges a PUT: one peer's reset would kill the worker that serves it. Between hosts without RDMA,
        /// KV moves over the native TCP transport instead. Name `tcp` (or set `UCX_TLS`) to use it anyway.
        public static let defaultTransports = ["^tcp"]

        /// What the context is created with: `transports`, or nil (UCX reads `UCX_TLS`) when that is set in
        /// `environment`, or `defaultTransports`.
        public func effectiveTransports(environment: [String: String]) -> [String]? {
            if let transports { return transports }
            return environment["UCX_TLS"] == nil ? Self.defaultTransports : nil
        }
    }

    public let name = "ucx"
    public let agent: UInt64
    public let notifications: AsyncStream<PeerNotification>
    /// The configuration the instance was created with.
    public let configuration: Configuration
    /// The transport list the UCX context was created with (nil: `UCX_TLS`).
    public let transports: [String]?
    private let loop: UCXWorkerLoop
    /// Registered pools and their descriptors, by pool id.
    private let descriptors = Mutex<[UInt64: (pool: LocalPool, descriptor: PoolDescriptor)]>([:])
    private let logger: Logger

    /// Creates the ucp context and worker and starts the progress thread.
    /// - Throws: `DataPlaneError.ucx` when UCX cannot start with the configuration (e.g. an unknown transport).
    public init(
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "handoff.ucx")
    ) throws(DataPlaneError) {
        let agent = UInt64.random(in: 1...UInt64.max)
        let (stream, continuation) = AsyncStream.makeStream(
            of: PeerNotification.self, bufferingPolicy: .bufferingOldest(maxQueuedNotifications))
        let transports = configuration.effectiveTransports(environment: ProcessInfo.processInfo.environment)
        self.loop = try UCXWorkerLoop(
            transports: transports, options: configuration.options, agent: agent,
            notifications: continuation)
        self.agent = agent
        self.notifications = stream
        self.configuration = configuration
        self.transports = transports
        self.logger = logger
    }

    /// Memory types this instance can register.
    public var supportedMemoryTypes: Set<MemoryType> { loop.memoryTypes }

    public func allocatePool(
        _ layout: KVLayout, memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: "\(name) (allocation)") }
        return try await map(layout, memoryType: memoryType, buffers: nil)
    }

    public func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard supportedMemoryTypes.contains(memoryType) else {
            throw .unsupportedMemoryType(memoryType, transport: name)
        }
        guard regions.count == layout.regionCount else {
            throw .layoutMismatch("\(regions.count) buffers for a layout of \(layout.regionCount) regions")
        }
        for (index, region) in regions.enumerated() where region.count < layout.regionBytes || region.baseAddress == nil
        {
            throw .rangeOutsideRegion(
                side: .source, region: index, offset: 0, length: layout.regionBytes, regionLength: region.count)
        }
        // The pointers cross to the loop's thread as addresses; the caller keeps the memory alive until release.
        let addresses = regions.map { (UInt(bitPattern: $0.baseAddress), $0.count) }
        return try await map(layout, memoryType: memoryType, buffers: addresses)
    }

    private func map(
        _ layout: KVLayout, memoryType: MemoryType, buffers: [(UInt, Int)]?
    ) async throws(DataPlaneError) -> LocalPool {
        let (agent, address) = (self.agent, loop.workerAddress)
        let (pool, descriptor) = try await loop.perform { state throws(DataPlaneError) in
            let id = state.makeID()
            let mapped = try UCXMappedPool.map(
                context: state.context, id: id, layout: layout, memoryType: memoryType,
                buffers: buffers?.map {
                    UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: $0.0), count: $0.1)
                })
            state.pools[id] = mapped
            let regions = zip(mapped.pool.regions, mapped.packedKeys).map { region, key in
                PoolDescriptor.Region(address: UInt64(region.address), length: UInt64(region.length), remoteKey: key)
            }
            let descriptor = PoolDescriptor(
                transport: "ucx", agent: agent, host: HostIdentity.current, transportAddress: address,
                memoryType: memoryType, layout: layout,
                regions: regions)
            return (mapped.pool, descriptor)
        }
        descriptors.withLock { $0[pool.id] = (pool, descriptor) }
        return pool
    }

    public func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor {
        guard let entry = descriptors.withLock({ $0[pool.id] }), entry.pool === pool else {
            throw .unknownHandle("pool \(pool.id) is not registered with this UCX transport")
        }
        return entry.descriptor
    }

    /// Checks the pool handle only: UCX's READs and WRITEs are served by the NIC or the shared-memory mapping,
    /// without this side's CPU, so nothing here can refuse a range inside the registration. The registered
    /// regions' bounds and the secrecy of the remote key are what limits a UCX peer.
    public func requireGrants(on pool: LocalPool) throws(DataPlaneError) {
        _ = try descriptor(of: pool)
    }

    /// Checks the grant against the pool; see `requireGrants(on:)` for what UCX can enforce.
    public func grant(_ grant: AccessGrant) throws(DataPlaneError) {
        _ = try descriptor(of: grant.pool)
        _ = try GrantedBlocks(grant)
    }

    /// Nothing to end: UCX holds no grants (see `requireGrants(on:)`).
    public func revoke(_ token: UInt64) async {}

    public func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer {
        guard descriptor.transport == name else {
            throw .incompatibleDescriptor("the pool is served by '\(descriptor.transport)', not '\(name)'")
        }
        guard supportedMemoryTypes.contains(descriptor.memoryType) else {
            throw .unsupportedMemoryType(descriptor.memoryType, transport: name)
        }
        let timeout = configuration.connectTimeout
        let detectFailures = configuration.errorHandling.detectsPeerFailure(
            peerHost: descriptor.host, transports: transports)
        let peer = try await loop.perform { state throws(DataPlaneError) in
            let id = state.makeID()
            let connection = try UCXConnection.open(
                worker: state.worker, id: id, descriptor: descriptor, detectFailures: detectFailures, timeout: timeout)
            state.connections[id] = connection
            let peer = RemotePeer(id: id, descriptor: descriptor, lowerTransports: connection.lowerTransports)
            connection.peer = peer
            return peer
        }
        logger.debug(
            "connected",
            metadata: [
                "peer": "\(String(descriptor.agent, radix: 16))",
                "lanes": "\(peer.lowerTransports.joined(separator: ","))",
            ])
        return peer
    }

    public func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions = TransferOptions()
    ) async throws(DataPlaneError) -> TransferReport {
        let start = MonotonicClock.nanos()
        try PlanValidation.check(plan, operation, local: local, remote: remote.descriptor)
        let cancellation = CancellationFlag()
        let (poolID, peerID) = (local.id, remote.id)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<TransferReport, DataPlaneError>, Never>) in
                loop.submit { state in
                    guard !state.isClosed else { return continuation.resume(returning: .failure(.transportClosed)) }
                    guard let pool = state.pools[poolID], pool.pool === local else {
                        return continuation.resume(
                            returning: .failure(
                                .unknownHandle("pool \(poolID) is released or belongs to another transport")))
                    }
                    guard let connection = state.connections[peerID], connection.peer === remote else {
                        return continuation.resume(
                            returning: .failure(
                                .unknownHandle("peer \(peerID) is disconnected or belongs to another transport")))
                    }
                    if let failure = connection.failure { return continuation.resume(returning: .failure(failure)) }
                    state.start(
                        UCXTransferExecution(
                            plan: plan, operation: operation, local: pool, connection: connection, options: options,
                            startNanos: start, cancellation: cancellation,
                            completion: { continuation.resume(returning: $0) }))
                }
            }
        } onCancel: {
            cancellation.set()
            loop.wake()
        }
        return try result.get()
    }

    public func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError) {
        guard payload.count <= maxNotificationBytes else {
            throw .notificationTooLarge(bytes: payload.count, limit: maxNotificationBytes)
        }
        let (peerID, agent) = (remote.id, self.agent)
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<Void, DataPlaneError>, Never>) in
            loop.submit { state in
                guard !state.isClosed else { return continuation.resume(returning: .failure(.transportClosed)) }
                guard let connection = state.connections[peerID], connection.peer === remote else {
                    return continuation.resume(
                        returning: .failure(
                            .unknownHandle("peer \(peerID) is disconnected or belongs to another transport")))
                }
                if let failure = connection.failure { return continuation.resume(returning: .failure(failure)) }
                UCXNotificationSend.start(
                    on: connection, sender: agent, payload: payload, completion: { continuation.resume(returning: $0) })
            }
        }
        try result.get()
    }

    public func disconnect(_ remote: RemotePeer) async {
        let id = remote.id
        _ = try? await loop.perform { state in
            guard state.connections[id]?.peer === remote else { return }
            state.connections.removeValue(forKey: id)?.close(worker: state.worker)
        }
    }

    public func release(_ pool: LocalPool) async {
        let id = pool.id
        let released = try? await loop.perform { state -> Bool in
            guard state.pools[id]?.pool === pool else { return false }
            state.releasePool(id: id)
            return true
        }
        if released == true { descriptors.withLock { _ = $0.removeValue(forKey: id) } }
    }

    public func shutdown() async {
        descriptors.withLock { $0.removeAll() }
        await loop.close()
    }
}
