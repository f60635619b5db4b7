import HandoffDataPlane

/// What a `handoff_peer *` points to: a connection to a peer's pool.
final class PeerHandle: Sendable {
    let transport: any Transport
    let peer: RemotePeer

    init(transport: any Transport, peer: RemotePeer) {
        self.transport = transport
        self.peer = peer
    }
}
