import HandoffCore
import HandoffDataPlane
import Logging
import Synchronization

/// The data plane a worker runs with `--transport auto`: every pool is offered over same-host shared memory, UCX
/// and the native TCP transport at once, and each peer is reached the best way both sides allow.
///
/// A peer on the same host maps the pool's memfds (`SharedMemoryTransport`: a memcpy per op) when the pool's
/// memory could be shared and the kernel lets it; otherwise UCX is used when both peers offer it and its
/// endpoint comes up; otherwise — UCX unavailable here or at the
/// peer, the endpoint failing — the native TCP transport is. A UCX transfer that fails is run again over TCP
/// (its ops only write the destination, so repeating them is safe), and that peer stays on TCP from then on.
/// Every fallback is logged with its reason and counted in `fallbacks`; the report names the transport that
/// moved the bytes.
public final class AutoTransport: Transport {
    private struct Pools {
        var pool: LocalPool
        var shm: LocalPool?
        var ucx: LocalPool?
        var tcp: LocalPool
        var descriptor: PoolDescriptor
    }

    private struct Peer {
        var remote: RemotePeer
        var shm: RemotePeer?
        var ucx: RemotePeer?
        var tcp: RemotePeer?
        /// Why this peer is reached over TCP, once it is.
        var fallback: FallbackReason?
    }

    private struct Registry {
        var pools: [UInt64: Pools] = [:]
        var peers: [UInt64: Peer] = [:]
        var nextID: UInt64 = 0
        var fallbacks: [FallbackReason: Int] = [:]
    }

    public let name = "auto"
    public let agent: UInt64
    public let notifications: AsyncStream<PeerNotification>
    /// nil when same-host shared memory is off or unavailable here.
    public let shm: SharedMemoryTransport?
    /// nil when UCX could not start here.
    public let ucx: UCXTransport?
    public let tcp: TCPTransport
    private let registry = Mutex(Registry())
    private let logger: Logger
    private let forwarding: Task<Void, Never>

    /// Starts the transports; UCX failing to start leaves TCP alone (logged). With TLS in `tcp`, UCX is not
    /// started: it cannot encrypt, so peers on other hosts are reached over TLS and same-host ones over shared
    /// memory.
    /// - Parameter sharedMemory: whether same-host peers map the pools' memory (`SharedMemoryTransport`).
    /// - Throws: `DataPlaneError` when the TCP transport cannot listen.
    public init(
        ucx ucxConfiguration: UCXTransport.Configuration = .init(),
        tcp tcpConfiguration: TCPTransport.Configuration = .init(),
        sharedMemory: Bool = true, logger: Logger = Logger(label: "handoff.auto")
    ) throws(DataPlaneError) {
        self.logger = logger
        tcp = try TCPTransport(configuration: tcpConfiguration, logger: logger)
        shm = sharedMemory ? try? SharedMemoryTransport(logger: logger) : nil
        if tcpConfiguration.tls != nil {
            // UCX cannot encrypt what it moves: with TLS, KV leaves the host only over native TCP.
            logger.info("UCX is off: the data plane uses TLS, which only native TCP carries")
            ucx = nil
        } else {
            do {
                ucx = try UCXTransport(configuration: ucxConfiguration, logger: logger)
            } catch {
                logger.warning(
                    "UCX is unavailable here; every peer will be reached over native TCP",
                    metadata: ["reason": "\(error)"])
                ucx = nil
            }
        }
        agent = tcp.agent
        let (stream, continuation) = AsyncStream.makeStream(
            of: PeerNotification.self, bufferingPolicy: .bufferingOldest(maxQueuedNotifications))
        notifications = stream
        let sources = [tcp.notifications] + (ucx.map { [$0.notifications] } ?? [])
        forwarding = Task {
            await withDiscardingTaskGroup { group in
                for source in sources {
                    group.addTask { for await notification in source { continuation.yield(notification) } }
                }
            }
            continuation.finish()
        }
    }

    /// How many times each reason made a peer or a transfer fall back from UCX to TCP, by `FallbackReason`
    /// raw value.
    public var fallbacks: [String: Int] {
        registry.withLock { Dictionary(uniqueKeysWithValues: $0.fallbacks.map { ($0.key.rawValue, $0.value) }) }
    }

    public func allocatePool(
        _ layout: KVLayout, memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        if let ucx {
            let ucxPool = try await ucx.allocatePool(layout, memoryType: .host)
            let buffers = ucxPool.regions.map {
                UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: $0.address), count: $0.length)
            }
            do {
                return try add(
                    layout, ucx: ucxPool, tcp: try await tcp.registerPool(layout, regions: buffers, memoryType: .host))
            } catch {
                await ucx.release(ucxPool)
                throw error
            }
        }
        return try add(layout, ucx: nil, tcp: try await tcp.allocatePool(layout, memoryType: .host))
    }

    public func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        // Shared memory first: it remaps the pages in place, before UCX registers them.
        let shmPool = await shareForSameHostPeers(layout, regions: regions)
        let ucxPool: LocalPool?
        do {
            ucxPool = try await ucx?.registerPool(layout, regions: regions, memoryType: .host)
        } catch {
            if let shmPool { await shm?.release(shmPool) }
            throw error
        }
        do {
            return try add(
                layout, shm: shmPool, ucx: ucxPool,
                tcp: try await tcp.registerPool(layout, regions: regions, memoryType: .host))
        } catch {
            if let ucxPool { await ucx?.release(ucxPool) }
            if let shmPool { await shm?.release(shmPool) }
            throw error
        }
    }

    /// The pool as same-host peers map it, or nil when its memory cannot be shared (logged).
    private func shareForSameHostPeers(_ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer]) async -> LocalPool?
    {
        guard let shm else { return nil }
        do {
            return try await shm.registerPool(layout, regions: regions, memoryType: .host)
        } catch {
            logger.info("same-host peers will use UCX or TCP for this pool", metadata: ["reason": "\(error)"])
            return nil
        }
    }

    private func add(
        _ layout: KVLayout, shm shmPool: LocalPool? = nil, ucx ucxPool: LocalPool?, tcp tcpPool: LocalPool
    ) throws(DataPlaneError) -> LocalPool {
        var offers = [try tcp.descriptor(of: tcpPool)]
        if let ucx, let ucxPool { offers.insert(try ucx.descriptor(of: ucxPool), at: 0) }
        if let shm, let shmPool { offers.insert(try shm.descriptor(of: shmPool), at: 0) }
        let descriptor = PoolDescriptor(
            transport: name, agent: agent, host: HostIdentity.current, transportAddress: AutoOffers.encode(offers),
            memoryType: .host, layout: layout,
            regions: tcpPool.regions.map { .init(address: 0, length: UInt64($0.length), remoteKey: []) })
        return registry.withLock { registry in
            registry.nextID += 1
            let pool = LocalPool(id: registry.nextID, layout: layout, memoryType: .host, regions: tcpPool.regions)
            registry.pools[pool.id] = Pools(
                pool: pool, shm: shmPool, ucx: ucxPool, tcp: tcpPool, descriptor: descriptor)
            return pool
        }
    }

    public func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor {
        try pools(of: pool).descriptor
    }

    /// Requires grants on both underlying pools (only TCP can check them).
    public func requireGrants(on pool: LocalPool) throws(DataPlaneError) {
        let entry = try pools(of: pool)
        if let ucx, let ucxPool = entry.ucx { try ucx.requireGrants(on: ucxPool) }
        try tcp.requireGrants(on: entry.tcp)
    }

    /// Grants the same token on both transports, so the peer presents it whichever one it uses.
    public func grant(_ grant: AccessGrant) throws(DataPlaneError) {
        let entry = try pools(of: grant.pool)
        if let ucx, let ucxPool = entry.ucx {
            try ucx.grant(
                AccessGrant(token: grant.token, pool: ucxPool, operation: grant.operation, blocks: grant.blocks))
        }
        try tcp.grant(
            AccessGrant(token: grant.token, pool: entry.tcp, operation: grant.operation, blocks: grant.blocks))
    }

    /// Revokes the token on both transports.
    public func revoke(_ token: UInt64) async {
        await ucx?.revoke(token)
        await tcp.revoke(token)
    }

    private func pools(of pool: LocalPool) throws(DataPlaneError) -> Pools {
        guard let entry = registry.withLock({ $0.pools[pool.id] }), entry.pool === pool else {
            throw .unknownHandle("pool \(pool.id) is not registered with this auto transport")
        }
        return entry
    }

    /// Connects over UCX where both sides offer it and over TCP where the peer does; at least one must succeed.
    public func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer {
        let offers: [PoolDescriptor]
        switch descriptor.transport {
        case name: offers = try AutoOffers.decode(descriptor.transportAddress)
        case "ucx", "tcp": offers = [descriptor]
        default:
            throw .incompatibleDescriptor(
                "the pool is served by '\(descriptor.transport)', which this side does not speak")
        }
        let shmPeer = await mapIfSameHost(offers.first { $0.transport == "shm" })
        var ucxPeer: RemotePeer?
        var tcpPeer: RemotePeer?
        var failures: [String] = []
        if let offer = offers.first(where: { $0.transport == "ucx" }) {
            if let ucx {
                do {
                    ucxPeer = try await ucx.connect(to: offer)
                } catch {
                    failures.append("UCX endpoint: \(error)")
                }
            } else {
                failures.append("UCX is unavailable on this side")
            }
        }
        if let offer = offers.first(where: { $0.transport == "tcp" }) {
            do {
                tcpPeer = try await tcp.connect(to: offer)
            } catch {
                failures.append("TCP: \(error)")
            }
        }
        guard shmPeer != nil || ucxPeer != nil || tcpPeer != nil else {
            throw .peerFailed(
                agent: descriptor.agent, reason: "no transport reaches the peer: " + failures.joined(separator: "; "))
        }
        var fallback: FallbackReason?
        if shmPeer == nil && ucxPeer == nil {
            let offered = offers.contains { $0.transport == "ucx" }
            let key: FallbackReason = ucx == nil ? .ucxUnavailable : offered ? .ucxEndpoint : .peerWithoutUCX
            fellBack(
                peer: descriptor.agent, reason: offered ? failures.joined(separator: "; ") : "the peer offers no UCX",
                key: key)
            fallback = key
        }
        let lower = shmPeer?.lowerTransports ?? ucxPeer?.lowerTransports ?? ["tcp"]
        return registry.withLock { registry in
            registry.nextID += 1
            let remote = RemotePeer(id: registry.nextID, descriptor: descriptor, lowerTransports: lower)
            registry.peers[remote.id] = Peer(
                remote: remote, shm: shmPeer, ucx: ucxPeer, tcp: tcpPeer, fallback: fallback)
            return remote
        }
    }

    /// Maps a same-host peer's shared pool; nil for another host, or when the kernel refuses (logged).
    private func mapIfSameHost(_ offer: PoolDescriptor?) async -> RemotePeer? {
        guard let shm, let offer, offer.host == HostIdentity.current else { return nil }
        do {
            return try await shm.connect(to: offer)
        } catch {
            logger.info("a same-host peer is reached over UCX or TCP", metadata: ["reason": "\(error)"])
            return nil
        }
    }

    public func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport {
        let start = ContinuousClock.now
        let peer = try resolve(remote)
        guard let pools = registry.withLock({ $0.pools[local.id] }), pools.pool === local else {
            throw .unknownHandle("pool \(local.id) is not registered with this auto transport")
        }
        if let shm, let shmPeer = peer.shm {
            // The peer's pages are mapped here; the local pool only lends its addresses.
            return try await shm.execute(plan, operation, localMemory: pools.pool, remote: shmPeer, options: options)
        }
        if let ucx, let ucxPool = pools.ucx, let ucxPeer = peer.ucx {
            do {
                return try await ucx.execute(plan, operation, local: ucxPool, remote: ucxPeer, options: options)
            } catch {
                switch error {
                case .cancelled, .layoutMismatch, .rangeOutsideRegion, .transportClosed: throw error
                default: break
                }
                let remaining = options.timeout - (ContinuousClock.now - start)
                guard peer.tcp != nil, remaining > .zero else { throw error }
                registry.withLock { registry in
                    registry.peers[remote.id]?.ucx = nil
                    registry.peers[remote.id]?.fallback = .ucxTransfer
                }
                await ucx.disconnect(ucxPeer)
                fellBack(
                    peer: remote.descriptor.agent, reason: "UCX transfer failed: \(error); running it again over TCP",
                    key: .ucxTransfer)
                guard let tcpPeer = peer.tcp else { throw error }
                var rest = options
                rest.timeout = remaining  // the caller's deadline holds across the fallback
                var report = try await tcp.execute(plan, operation, local: pools.tcp, remote: tcpPeer, options: rest)
                report.fallback = .ucxTransfer
                return report
            }
        }
        guard let tcpPeer = peer.tcp else {
            throw .peerFailed(agent: remote.descriptor.agent, reason: "the peer offers no native TCP to fall back to")
        }
        var report = try await tcp.execute(plan, operation, local: pools.tcp, remote: tcpPeer, options: options)
        report.fallback = peer.fallback
        return report
    }

    public func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError) {
        let peer = try resolve(remote)
        if let ucx, let ucxPeer = peer.ucx {
            try await ucx.notify(ucxPeer, payload: payload)
        } else if let tcpPeer = peer.tcp {
            try await tcp.notify(tcpPeer, payload: payload)
        } else {
            throw .peerFailed(
                agent: remote.descriptor.agent, reason: "notifications need UCX or TCP, and neither reaches the peer")
        }
    }

    public func disconnect(_ remote: RemotePeer) async {
        let peer = registry.withLock { registry -> Peer? in
            guard let peer = registry.peers[remote.id], peer.remote === remote else { return nil }
            return registry.peers.removeValue(forKey: remote.id)
        }
        guard let peer else { return }
        if let shmPeer = peer.shm { await shm?.disconnect(shmPeer) }
        if let ucxPeer = peer.ucx { await ucx?.disconnect(ucxPeer) }
        if let tcpPeer = peer.tcp { await tcp.disconnect(tcpPeer) }
    }

    public func release(_ pool: LocalPool) async {
        let pools = registry.withLock { registry -> Pools? in
            guard let entry = registry.pools[pool.id], entry.pool === pool else { return nil }
            return registry.pools.removeValue(forKey: pool.id)
        }
        guard let pools else { return }
        await shm?.stopCopies(touching: pools.pool)  // no same-host copy touches the memory past this point
        await tcp.release(pools.tcp)  // stops TCP serving before UCX frees the memory
        if let ucxPool = pools.ucx { await ucx?.release(ucxPool) }
        if let shmPool = pools.shm { await shm?.release(shmPool) }
    }

    public func shutdown() async {
        await shm?.shutdown()  // stops same-host copies before UCX frees the memory they touch
        await tcp.shutdown()
        await ucx?.shutdown()
        forwarding.cancel()
    }

    private func resolve(_ remote: RemotePeer) throws(DataPlaneError) -> Peer {
        guard let peer = registry.withLock({ $0.peers[remote.id] }), peer.remote === remote else {
            throw .unknownHandle("peer \(remote.id) is not connected through this auto transport")
        }
        return peer
    }

    private func fellBack(peer agent: UInt64, reason: String, key: FallbackReason) {
        registry.withLock { $0.fallbacks[key, default: 0] += 1 }
        logger.warning(
            "falling back to native TCP", metadata: ["peer": "\(String(agent, radix: 16))", "reason": "\(reason)"])
    }
}
