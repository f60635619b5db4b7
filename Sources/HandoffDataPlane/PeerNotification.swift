/// A small message from a peer, such as "blocks released".
public struct PeerNotification: Sendable, Hashable {
    /// The sending transport instance's agent id (as in its `PoolDescriptor`).
    public var sender: UInt64
    /// The message body.
    public var payload: [UInt8]

    public init(sender: UInt64, payload: [UInt8]) {
        self.sender = sender
        self.payload = payload
    }
}
