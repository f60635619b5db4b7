import Foundation
import HandoffCore
import Histogram
import Logging
import Synchronization

/// Handoff's native TCP data plane: every instance listens, and peers read and write its registered pools with
/// scatter/gather socket I/O straight between the regions and the wire, striped over several connections.
///
/// A pool is reachable only with its descriptor, which carries a random 64-bit key; the serving side checks
/// every requested range against the pool's regions and, on a pool that requires grants, against the blocks of
/// the request's grant. Host memory only.
public final class TCPTransport: Transport {
    /// Where to listen and how to move data.
    public struct Configuration: Sendable, Hashable {
        /// IPv4 address to listen on.
        public var listenHost: String
        /// Port to listen on; 0 picks a free one.
        public var listenPort: UInt16
        /// Addresses peers should connect to, in order of preference; default: `listenHost`, or this host's
        /// IPv4 addresses when listening on 0.0.0.0.
        public var advertisedHosts: [String]?
        /// Connections a transfer is striped over (at least 1).
        public var streams: Int
        /// Bytes per request (4 KiB to 1 GiB).
        public var batchBytes: Int
        /// How long reaching a peer may take.
        public var connectTimeout: Duration
        /// What this port allows its clients: connections, and how long each phase may take.
        public var limits: TCPServerLimits
        /// Mutual TLS on every connection, served and made; nil: plaintext.
        public var tls: DataPlaneTLS?

        public init(
            listenHost: String = "0.0.0.0", listenPort: UInt16 = 0, advertisedHosts: [String]? = nil, streams: Int = 4,
            batchBytes: Int = 4 << 20, connectTimeout: Duration = .seconds(5), limits: TCPServerLimits = .init(),
            tls: DataPlaneTLS? = nil
        ) {
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.advertisedHosts = advertisedHosts
            self.streams = max(1, streams)
            self.batchBytes = min(max(batchBytes, 4096), TCPWire.maxPayloadBytes)
            self.connectTimeout = connectTimeout
            self.limits = limits
            self.tls = tls
        }
    }

    private struct Registry {
        var pools: [UInt64: (pool: LocalPool, descriptor: PoolDescriptor, owned: Bool)] = [:]
        var peers: [UInt64: (peer: RemotePeer, link: TCPPeerLink)] = [:]
        /// Transfers running, by id, with their local pool: a release fails them and waits for them to end.
        var executions: [UInt64: (pool: UInt64, execution: TCPTransferExecution?)] = [:]
        var nextID: UInt64 = 0
        var closed = false

        func running(on pool: UInt64?) -> Bool { executions.values.contains { pool == nil || $0.pool == pool } }
    }

    public let name = "tcp"
    public let agent = UInt64.random(in: 1...UInt64.max)
    public let notifications: AsyncStream<PeerNotification>
    public let configuration: Configuration
    private let server: TCPServer
    private let tls: DataPlaneTLSContexts?
    private let endpoints: [UInt8]
    private let registry = Mutex(Registry())
    private let logger: Logger

    /// Starts listening.
    /// - Throws: `DataPlaneError.peerFailed` when the address cannot be bound.
    public init(
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "handoff.tcp")
    ) throws(DataPlaneError) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: PeerNotification.self, bufferingPolicy: .bufferingOldest(configuration.limits.maxQueuedNotifications))
        notifications = stream
        self.configuration = configuration
        self.logger = logger
        do throws(DataPlaneTLSError) {
            tls = try configuration.tls.map(DataPlaneTLSContexts.init)
        } catch {
            throw .setupFailed("TLS for TCP transfers: \(error)")
        }
        let server = try TCPServer(
            host: configuration.listenHost, port: configuration.listenPort, limits: configuration.limits, tls: tls,
            notifications: continuation)
        self.server = server
        let hosts =
            configuration.advertisedHosts
            ?? (configuration.listenHost == "0.0.0.0" ? HostIdentity.ipv4Addresses() : [configuration.listenHost])
        endpoints = TCPEndpoints.encode(hosts.map { ($0, server.port) })
    }

    /// The port peers connect to.
    public var port: UInt16 { server.port }

    /// Answers `handoff topo --peer` probes on this transport's port with `provider`'s line of JSON (this node's
    /// topology report); until called, probes are refused with a message.
    public func answerProbes(with provider: @escaping DataPlaneProbe.AnswerProvider) {
        server.answerProbes(with: provider)
    }

    public func allocatePool(
        _ layout: KVLayout, memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        let regions = (0..<layout.regionCount).map { _ in
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(layout.regionBytes, 1), alignment: 4096)
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: layout.regionBytes)
            return (address: UInt(bitPattern: memory), length: layout.regionBytes)
        }
        return try add(layout, regions: regions, owned: true)
    }

    public func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType = .host
    ) async throws(DataPlaneError) -> LocalPool {
        guard memoryType == .host else { throw .unsupportedMemoryType(memoryType, transport: name) }
        guard regions.count == layout.regionCount else {
            throw .layoutMismatch("\(regions.count) buffers for a layout of \(layout.regionCount) regions")
        }
        for (index, region) in regions.enumerated() where region.count < layout.regionBytes || region.baseAddress == nil
        {
            throw .rangeOutsideRegion(
                side: .source, region: index, offset: 0, length: layout.regionBytes, regionLength: region.count)
        }
        return try add(
            layout, regions: regions.map { (UInt(bitPattern: $0.baseAddress), layout.regionBytes) }, owned: false)
    }

    private func add(
        _ layout: KVLayout, regions: [(address: UInt, length: Int)], owned: Bool
    ) throws(DataPlaneError) -> LocalPool {
        let key = UInt64.random(in: 1...UInt64.max)
        let result: LocalPool? = registry.withLock { registry in
            guard !registry.closed else { return nil }
            registry.nextID += 1
            let pool = LocalPool(id: registry.nextID, layout: layout, memoryType: .host, regions: regions)
            var keyBytes = ByteWriter(capacity: 16)
            keyBytes.write(pool.id)
            keyBytes.write(key)
            let descriptor = PoolDescriptor(
                transport: name, agent: agent, host: HostIdentity.current, transportAddress: endpoints,
                memoryType: .host,
                layout: layout,
                regions: regions.map { .init(address: 0, length: UInt64($0.length), remoteKey: keyBytes.bytes) })
            registry.pools[pool.id] = (pool, descriptor, owned)
            return pool
        }
        guard let result else {
            if owned { for region in regions { UnsafeMutableRawPointer(bitPattern: region.address)?.deallocate() } }
            throw .transportClosed
        }
        server.add(pool: result.id, key: key, regions: regions)
        return result
    }

    public func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor {
        guard let entry = registry.withLock({ $0.pools[pool.id] }), entry.pool === pool else {
            throw .unknownHandle("pool \(pool.id) is not registered with this TCP transport")
        }
        return entry.descriptor
    }

    /// From now on the serving side refuses requests on `pool` that name no live grant.
    public func requireGrants(on pool: LocalPool) throws(DataPlaneError) {
        _ = try descriptor(of: pool)
        server.requireGrants(pool: pool.id)
    }

    /// The serving side checks every range of a request under `grant.token` against the granted blocks.
    public func grant(_ grant: AccessGrant) throws(DataPlaneError) {
        _ = try descriptor(of: grant.pool)
        server.add(grant: try GrantedBlocks(grant), token: grant.token)
    }

    /// Refuses later requests under `token` and ends the connections serving one now.
    public func revoke(_ token: UInt64) async {
        await server.revoke(token)
    }

    public func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer {
        guard descriptor.transport == name else {
            throw .incompatibleDescriptor("the pool is served by '\(descriptor.transport)', not '\(name)'")
        }
        guard descriptor.memoryType == .host else {
            throw .unsupportedMemoryType(descriptor.memoryType, transport: name)
        }
        let link = try TCPPeerLink(
            descriptor: descriptor, agent: agent, connectTimeout: configuration.connectTimeout, tls: tls)
        link.checkIn(try await link.checkOut(1))  // reach the peer now, not on the first transfer
        let peer: RemotePeer? = registry.withLock { registry in
            guard !registry.closed else { return nil }
            registry.nextID += 1
            let peer = RemotePeer(id: registry.nextID, descriptor: descriptor, lowerTransports: ["tcp"])
            registry.peers[peer.id] = (peer, link)
            return peer
        }
        guard let peer else {
            link.close()
            throw .transportClosed
        }
        return peer
    }

    public func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport {
        let start = MonotonicClock.nanos()
        try PlanValidation.check(plan, operation, local: local, remote: remote.descriptor)
        // Registered as running before it touches the pool, so that a release waits for it.
        let (id, link) = try registry.withLock { registry throws(DataPlaneError) in
            guard let entry = registry.pools[local.id], entry.pool === local else {
                throw .unknownHandle("pool \(local.id) is not registered with this TCP transport")
            }
            guard let link = registry.peers[remote.id], link.peer === remote else {
                throw .unknownHandle("peer \(remote.id) is not connected through this TCP transport")
            }
            registry.nextID += 1
            registry.executions[registry.nextID] = (local.id, nil)
            return (registry.nextID, link.link)
        }
        defer { registry.withLock { _ = $0.executions.removeValue(forKey: id) } }
        let batches = TCPTransferExecution.batches(
            of: plan, operation, local: local, batchBytes: configuration.batchBytes)
        let deadline = start &+ options.timeout.nanoseconds
        var posted = start
        var latency: Histogram<UInt64>?
        // A pooled connection the peer closed as idle just before the transfer fails it before any answer: it
        // runs once more, on new connections (its requests only copy the same bytes again).
        for attempt in 0..<2 where latency == nil {
            let sockets = try await link.checkOut(
                max(1, min(configuration.streams, batches.count)), reusingIdle: attempt == 0)
            let execution = TCPTransferExecution(
                batches: batches, operation: operation, grant: options.grant, sockets: sockets,
                agent: remote.descriptor.agent)
            let stillRegistered = registry.withLock { registry in
                guard registry.pools[local.id]?.pool === local else { return false }
                registry.executions[id] = (local.id, execution)
                return true
            }
            guard stillRegistered else {
                for socket in sockets { socket.close() }
                throw .unknownHandle("pool \(local.id) was released before the transfer started")
            }
            if attempt == 0 { posted = MonotonicClock.nanos() }
            do {
                latency = try await execution.run(deadline: deadline, timeout: options.timeout)
                link.checkIn(sockets)
            } catch {
                for socket in sockets { socket.close() }
                guard attempt == 0, execution.failedOnStaleConnection, MonotonicClock.nanos() < deadline else {
                    throw error
                }
                logger.debug("a connection was closed before its first answer; running the transfer again")
            }
        }
        guard let latency else { throw .peerFailed(agent: remote.descriptor.agent, reason: "no attempt ran") }
        let end = MonotonicClock.nanos()
        return TransferReport(
            operation: operation, bytes: plan.totalBytes, ops: batches.count, pieces: plan.pieceCount, transport: name,
            lowerTransports: remote.lowerTransports, postSeconds: Double(posted &- start) / 1e9,
            completionSeconds: Double(end &- posted) / 1e9,
            opLatencyNanoseconds: latency)
    }

    public func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError) {
        guard payload.count <= maxNotificationBytes else {
            throw .notificationTooLarge(bytes: payload.count, limit: maxNotificationBytes)
        }
        guard let link = registry.withLock({ $0.peers[remote.id] }), link.peer === remote else {
            throw .unknownHandle("peer \(remote.id) is not connected through this TCP transport")
        }
        let socket = try await link.link.checkOut(1)[0]
        do {
            let header = TCPWire.RequestHeader(kind: .notify, rangeCount: 0, requestID: 0, payloadBytes: payload.count)
            try socket.send(TCPWire.encode(header, ranges: []) + payload, "send notification")
            let answer = try TCPWire.decodeResponse(
                try socket.receive(TCPWire.responseHeaderBytes, "receive notification answer"))
            guard answer.status == TCPWire.Status.ok.rawValue, answer.messageBytes == 0, answer.payloadBytes == 0 else {
                let message = String(
                    decoding: try socket.receive(answer.messageBytes, "receive notification refusal"), as: UTF8.self)
                throw DataPlaneError.peerFailed(
                    agent: remote.descriptor.agent, reason: "the peer refused a notification: \(message)")
            }
        } catch {
            socket.close()
            throw error as? DataPlaneError ?? .peerFailed(agent: remote.descriptor.agent, reason: "\(error)")
        }
        link.link.checkIn([socket])
    }

    public func disconnect(_ remote: RemotePeer) async {
        let link = registry.withLock { registry -> TCPPeerLink? in
            guard let entry = registry.peers[remote.id], entry.peer === remote else { return nil }
            registry.peers[remote.id] = nil
            return entry.link
        }
        link?.close()
    }

    public func release(_ pool: LocalPool) async {
        let entry = registry.withLock { registry -> (pool: LocalPool, descriptor: PoolDescriptor, owned: Bool)? in
            guard let entry = registry.pools[pool.id], entry.pool === pool else { return nil }
            registry.pools[pool.id] = nil
            return entry
        }
        guard let entry else { return }
        await stopTransfers(on: pool.id)
        await server.remove(pool: pool.id)
        if entry.owned {
            for region in pool.regions { UnsafeMutableRawPointer(bitPattern: region.address)?.deallocate() }
        }
    }

    public func shutdown() async {
        let (pools, links) = registry.withLock { registry in
            registry.closed = true
            defer {
                registry.pools = [:]
                registry.peers = [:]
            }
            return (Array(registry.pools.values), registry.peers.values.map(\.link))
        }
        for link in links { link.close() }
        await stopTransfers(on: nil)
        for entry in pools {
            await server.remove(pool: entry.pool.id)
            if entry.owned {
                for region in entry.pool.regions { UnsafeMutableRawPointer(bitPattern: region.address)?.deallocate() }
            }
        }
        await server.stop()
    }
}

extension TCPTransport {
    /// Fails the transfers running on `pool` (every pool: nil) and waits until none of them touches memory.
    /// A transfer that registered but had not started its execution when asked is failed on a later pass.
    private func stopTransfers(on pool: UInt64?) async {
        while true {
            let running = registry.withLock { registry in
                for entry in registry.executions.values where pool == nil || entry.pool == pool {
                    entry.execution?.fail(.unknownHandle("the local pool was released during the transfer"))
                }
                return registry.running(on: pool)
            }
            if !running { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}
