import HandoffDataPlane

/// What a `handoff_peer *` points to: a connection to a peer's pool.
final class PeerHandle: Sendable {
    let owner: TransportHandle
    let peer: RemotePeer

    var transport: any Transport { owner.transport }

    init(owner: TransportHandle, peer: RemotePeer) {
        self.owner = owner
        self.peer = peer
    }

    /// The peer behind `handle`, while its transport runs.
    /// - Throws: `HANDOFF_E_INVALID_ARGUMENT` for NULL, `HANDOFF_E_CLOSED` once the transport was destroyed.
    static func borrowOpen(_ handle: OpaquePointer?) throws(CFailure) -> PeerHandle {
        let peer = try OpaqueHandle.borrow(handle, as: PeerHandle.self)
        try peer.owner.requireOpen("peer")
        return peer
    }
}
