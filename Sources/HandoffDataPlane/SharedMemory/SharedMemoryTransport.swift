import Foundation
import HandoffCore
import Histogram
import Logging
import Synchronization

/// Same-host transfers at memcpy speed: a pool's pages are backed by memfds (an engine's own memory is remapped
/// onto them in place at registration, same addresses and contents), a peer on the same host duplicates those
/// memfds with pidfd_getfd and maps them, and every op is a `memcpy` in the peer's process.
///
/// Reaching a pool takes what reading it with process_vm_readv takes (the ptrace access rules: the same user,
/// a dumpable process), and, as with UCX over shared memory, transfers run without the serving side's CPU, so
/// grants cannot be checked: the descriptor is the capability. Only private anonymous memory is remapped (a file
/// or device mapping, such as a GPU driver's pinned memory, is refused); register the KV cache before the engine
/// writes it. Notifications need another transport. `AutoTransport` offers this one first to same-host peers.
public final class SharedMemoryTransport: Transport {
    private struct Pool {
        var pool: LocalPool
        var shared: SharedRegions
        /// Part of its memfds' names.
        var nonce: UInt64
    }

    private struct Peer {
        var remote: RemotePeer
        var mapping: SharedPeerMapping
    }

    private struct Registry {
        var pools: [UInt64: Pool] = [:]
        var peers: [UInt64: Peer] = [:]
        var copies: [UInt64: ActiveCopy] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    public let name = "shm"
    public let agent: UInt64
    public let notifications: AsyncStream<PeerNotification>
    private let registry = Mutex(Registry())
    private let logger: Logger
    private let startTime: UInt64
    /// Threads one transfer's copies are split over.
    public let copyThreads: Int

    /// The default of `copyThreads`: `$HANDOFF_SHM_COPY_THREADS`, else 2 where the machine has 2 cores or more.
    public static var defaultCopyThreads: Int {
        if let text = ProcessInfo.processInfo.environment["HANDOFF_SHM_COPY_THREADS"], let count = Int(text), count > 0
        {
            return min(count, 64)
        }
        return min(2, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// - Parameter copyThreads: threads one transfer's copies are split over (one core's copy rarely saturates
    ///   memory; an engine that needs its cores for compute sets 1).
    /// - Throws: `DataPlaneError.incompatibleDescriptor` when this process's start time is unreadable (no /proc).
    public init(
        copyThreads: Int = SharedMemoryTransport.defaultCopyThreads, logger: Logger = Logger(label: "handoff.shm")
    )
        throws(DataPlaneError)
    {
        self.copyThreads = max(1, copyThreads)
        guard let startTime = SharedMemoryOffer.startTime(of: getpid()) else {
            throw .incompatibleDescriptor("/proc/self/stat is unreadable: no same-host shared memory")
        }
        self.startTime = startTime
        self.logger = logger
        agent = UInt64.random(in: 1...UInt64.max)
        notifications = AsyncStream { $0.finish() }
    }

    static func memfdName(agent: UInt64, nonce: UInt64) -> String {
        "handoff-kv-\(String(agent, radix: 16))-\(String(nonce, radix: 16))"
    }

    public func allocatePool(
        _ layout: KVLayout, memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        let nonce = UInt64.random(in: 1...UInt64.max)
        let shared = try sharing { () throws(SharedMemoryError) in
            try SharedRegions.allocate(
                regions: layout.regionCount, regionBytes: layout.regionBytes,
                name: Self.memfdName(agent: agent, nonce: nonce))
        }
        return add(layout, shared: shared, nonce: nonce, regions: shared.spans.map { ($0.address, layout.regionBytes) })
    }

    /// Remaps the regions' pages onto memfds in place (contents kept).
    /// - Throws: `DataPlaneError.incompatibleDescriptor` when the memory is not private anonymous memory.
    public func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        guard regions.count == layout.regionCount,
            regions.allSatisfy({ $0.baseAddress != nil && $0.count >= layout.regionBytes })
        else {
            throw .layoutMismatch(
                "\(regions.count) buffers for \(layout.regionCount) regions of \(layout.regionBytes) bytes")
        }
        let spans = regions.map { (address: UInt(bitPattern: $0.baseAddress), length: layout.regionBytes) }
        let nonce = UInt64.random(in: 1...UInt64.max)
        let shared = try sharing { () throws(SharedMemoryError) in
            try SharedRegions.share(spans, name: Self.memfdName(agent: agent, nonce: nonce))
        }
        return add(layout, shared: shared, nonce: nonce, regions: spans)
    }

    private func sharing(_ body: () throws(SharedMemoryError) -> SharedRegions) throws(DataPlaneError) -> SharedRegions
    {
        do {
            return try body()
        } catch {
            throw .incompatibleDescriptor("same-host shared memory: \(error)")
        }
    }

    private func add(
        _ layout: KVLayout, shared: SharedRegions, nonce: UInt64, regions: [(address: UInt, length: Int)]
    ) -> LocalPool {
        registry.withLock { registry in
            registry.nextID += 1
            let pool = LocalPool(id: registry.nextID, layout: layout, memoryType: .host, regions: regions)
            registry.pools[pool.id] = Pool(pool: pool, shared: shared, nonce: nonce)
            return pool
        }
    }

    /// Accepted, but not enforceable: peers copy the pages themselves.
    public func requireGrants(on pool: LocalPool) throws(DataPlaneError) { _ = try entry(of: pool) }

    /// Accepted, but not enforceable: peers copy the pages themselves.
    public func grant(_ grant: AccessGrant) throws(DataPlaneError) { _ = try entry(of: grant.pool) }

    public func revoke(_ token: UInt64) async {}

    public func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor {
        let entry = try entry(of: pool)
        let offer = SharedMemoryOffer(
            pid: getpid(), startTime: startTime, nonce: entry.nonce,
            spans: entry.shared.spans.map { .init(descriptor: $0.descriptor, length: UInt64($0.length)) })
        return PoolDescriptor(
            transport: name, agent: agent, host: HostIdentity.current, transportAddress: offer.encoded(),
            memoryType: .host,
            layout: pool.layout,
            regions: zip(pool.regions, entry.shared.placements).map { region, placement in
                .init(
                    address: UInt64(region.address), length: UInt64(region.length),
                    remoteKey: SharedMemoryOffer.remoteKey(placement))
            })
    }

    private func entry(of pool: LocalPool) throws(DataPlaneError) -> Pool {
        guard let entry = registry.withLock({ $0.pools[pool.id] }), entry.pool === pool else {
            throw .unknownHandle("pool \(pool.id) is not registered with this shared-memory transport")
        }
        return entry
    }

    /// Maps a same-host peer's pool.
    /// - Throws: `.incompatibleDescriptor` for a descriptor of another host or transport, `.peerFailed` when the
    ///   peer's memory cannot be mapped (process gone, access refused).
    public func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer {
        guard descriptor.transport == name else {
            throw .incompatibleDescriptor("the pool is served by '\(descriptor.transport)', not shm")
        }
        guard descriptor.host == HostIdentity.current else {
            throw .incompatibleDescriptor("the pool is on another host")
        }
        let mapping: SharedPeerMapping
        do {
            let offer = try SharedMemoryOffer(decoding: descriptor.transportAddress)
            var placements: [SharedRegions.Placement] = []
            for (index, region) in descriptor.regions.enumerated() {
                placements.append(try offer.placement(of: region, index: index))
            }
            guard placements.count == descriptor.layout.regionCount else {
                throw WireFormatError.invalidValue(
                    field: "regions", reason: "\(placements.count) for \(descriptor.layout.regionCount) layers")
            }
            mapping = try SharedPeerMapping.map(offer, placements: placements, agent: descriptor.agent)
        } catch let error as WireFormatError {
            throw .invalidDescriptor(error)
        } catch {
            throw .peerFailed(agent: descriptor.agent, reason: "cannot map its shared memory: \(error)")
        }
        return registry.withLock { registry in
            registry.nextID += 1
            let remote = RemotePeer(id: registry.nextID, descriptor: descriptor, lowerTransports: ["memfd"])
            registry.peers[remote.id] = Peer(remote: remote, mapping: mapping)
            return remote
        }
    }

    public func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport {
        guard let pool = registry.withLock({ $0.pools[local.id] }), pool.pool === local else {
            throw .unknownHandle("pool \(local.id) is not registered with this shared-memory transport")
        }
        return try await execute(plan, operation, localMemory: pool.pool, remote: remote, options: options)
    }

    /// Executes `plan` between `local`, a pool of this process registered with any transport (only its addresses
    /// are used; the caller keeps it registered meanwhile), and a peer mapped by this one.
    package func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, localMemory local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport {
        let start = MonotonicClock.nanos()
        try PlanValidation.check(plan, operation, local: local, remote: remote.descriptor)
        let control = ActiveCopy(local: local)
        let (peer, copyID) = try registry.withLock { registry throws(DataPlaneError) in
            guard !registry.closed else { throw DataPlaneError.transportClosed }
            guard let peer = registry.peers[remote.id], peer.remote === remote else {
                throw DataPlaneError.unknownHandle(
                    "peer \(remote.id) is not connected through this shared-memory transport")
            }
            registry.nextID += 1
            registry.copies[registry.nextID] = control
            return (peer, registry.nextID)
        }
        defer { _ = registry.withLock { $0.copies.removeValue(forKey: copyID) } }
        let localAddresses = local.regions.map(\.address)
        let remoteAddresses = peer.mapping.regionAddresses
        let copy = SharedMemoryCopy(
            ops: plan.ops,
            sources: operation == .read ? remoteAddresses : localAddresses,
            destinations: operation == .read ? localAddresses : remoteAddresses,
            deadline: start &+ UInt64(clamping: options.timeout.nanoseconds), threads: copyThreads)
        let result = await copy.run(keeping: peer.mapping, control: control)
        let end = MonotonicClock.nanos()
        switch result.outcome {
        case .done: break
        case .cancelled: throw .cancelled(completedOps: result.completedOps, totalOps: result.totalOps)
        case .timedOut:
            throw .timedOut(after: options.timeout, completedOps: result.completedOps, totalOps: result.totalOps)
        }
        return TransferReport(
            operation: operation, bytes: plan.totalBytes, ops: plan.ops.count, pieces: plan.pieceCount, transport: name,
            lowerTransports: remote.lowerTransports, postSeconds: Double(result.started &- start) / 1e9,
            completionSeconds: Double(end &- result.started) / 1e9, opLatencyNanoseconds: result.latencies)
    }

    public func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError) {
        throw .incompatibleDescriptor("the shared-memory transport carries no notifications")
    }

    public func disconnect(_ remote: RemotePeer) async {
        _ = registry.withLock { registry -> Peer? in
            guard let peer = registry.peers[remote.id], peer.remote === remote else { return nil }
            return registry.peers.removeValue(forKey: remote.id)
        }
    }

    /// Stops the copies running into or out of `pool`, then deregisters it (unmapping what this transport
    /// allocated).
    public func release(_ pool: LocalPool) async {
        let removed = registry.withLock { registry -> Pool? in
            guard let entry = registry.pools[pool.id], entry.pool === pool else { return nil }
            return registry.pools.removeValue(forKey: pool.id)
        }
        await stopCopies(touching: pool)
        withExtendedLifetime(removed) {}
    }

    /// Stops the copies that read or write `pool`'s memory (a pool of this process registered with any transport)
    /// and returns once no copy thread touches it: call it before that memory is deregistered or freed.
    package func stopCopies(touching pool: LocalPool) async {
        let copies = registry.withLock { $0.copies.values.filter { $0.local == ObjectIdentifier(pool) } }
        for copy in copies { await copy.stop() }
    }

    /// Stops every copy, then forgets every pool and peer.
    public func shutdown() async {
        let copies = registry.withLock { registry in
            registry.closed = true
            return Array(registry.copies.values)
        }
        for copy in copies { await copy.stop() }
        let removed = registry.withLock { registry in
            defer {
                registry.pools.removeAll()
                registry.peers.removeAll()
            }
            return (registry.pools, registry.peers)
        }
        withExtendedLifetime(removed) {}
    }
}
