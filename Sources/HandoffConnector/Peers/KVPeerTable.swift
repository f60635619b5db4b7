import HandoffControlProtocol
import HandoffDataPlane
import Logging

/// The data-plane connections of a decode worker to its prefill peers, keyed by instance.
///
/// Connections are opened when the coordinator announces a peer (the first time a ticket pairs them, ahead of the
/// pull). A peer announced down is disconnected and remembered, so a late pull never uses its stale keys.
public actor KVPeerTable {
    let transport: any Transport
    let logger: Logger
    private var connected: [WorkerIdentity: RemotePeer] = [:]
    private var connecting: [WorkerIdentity: Task<RemotePeer, any Error>] = [:]
    private var down: Set<WorkerIdentity> = []

    public init(transport: any Transport, logger: Logger = Logger(label: "handoff.worker.peers")) {
        self.transport = transport
        self.logger = logger
    }

    /// Connects to an announced peer now; a failure is logged and retried on first use.
    public func peerUp(_ peer: PeerAnnouncement) async {
        // A new instance of the same worker makes every older one void.
        for old in connected.keys where old.id == peer.identity.id && old != peer.identity {
            await peerDown(old, reason: "replaced by \(peer.identity)")
        }
        down.remove(peer.identity)
        do {
            _ = try await connection(to: peer.identity, descriptor: peer.descriptor)
            logger.info("data-plane connection up", metadata: ["peer": "\(peer.identity)"])
        } catch {
            logger.warning("could not connect to \(peer.identity) yet: \(error)")
        }
    }

    /// Drops the connection to a peer instance that is gone.
    public func peerDown(_ identity: WorkerIdentity, reason: String) async {
        down.insert(identity)
        connecting.removeValue(forKey: identity)?.cancel()
        if let peer = connected.removeValue(forKey: identity) {
            await transport.disconnect(peer)
            logger.info("data-plane connection dropped", metadata: ["peer": "\(identity)", "reason": "\(reason)"])
        }
    }

    /// The connection to `identity`, opening it from `descriptor` if needed.
    ///
    /// - Throws: `KVConnectorError.peerGone` for an instance announced down; the data plane's error otherwise.
    public func connection(to identity: WorkerIdentity, descriptor: [UInt8]) async throws -> RemotePeer {
        if down.contains(identity) { throw KVConnectorError.peerGone(identity) }
        if let peer = connected[identity] { return peer }
        if let pending = connecting[identity] { return try await pending.value }
        let transport = self.transport
        let task = Task { () throws -> RemotePeer in
            try await transport.connect(to: try PoolDescriptor(decoding: descriptor))
        }
        connecting[identity] = task
        defer { connecting[identity] = nil }
        let peer = try await task.value
        if down.contains(identity) {
            await transport.disconnect(peer)
            throw KVConnectorError.peerGone(identity)
        }
        connected[identity] = peer
        return peer
    }

    /// Instances with an open connection.
    public var connectedPeers: [WorkerIdentity] { Array(connected.keys) }

    /// Disconnects everything.
    public func closeAll() async {
        for peer in connected.values { await transport.disconnect(peer) }
        connected.removeAll()
    }
}
