/// A connection to a peer's pool, made by `Transport.connect(to:)`.
public final class RemotePeer: Sendable {
    /// Identifies the connection inside its transport.
    public let id: UInt64
    /// The descriptor it was made from.
    public let descriptor: PoolDescriptor
    /// The lower-level transports the connection uses (for UCX: the lanes' transports, e.g. `posix`, `cma`, `tcp`).
    public let lowerTransports: [String]

    package init(id: UInt64, descriptor: PoolDescriptor, lowerTransports: [String]) {
        self.id = id
        self.descriptor = descriptor
        self.lowerTransports = lowerTransports
    }
}
