/// What a worker tells the coordinator when its session opens.
public struct WorkerRegistration: Sendable, Hashable {
    public var identity: WorkerIdentity
    public var role: WorkerRole
    public var layout: KVLayoutSpec
    /// The data plane's pool descriptor (binary `PoolDescriptor`), handed to peers so they can connect.
    public var descriptor: [UInt8]
    /// Placement labels used to prefer near pairs.
    public var node: String
    public var rack: String
    /// The worker's own compatibility hash; must equal `CompatibilityHash.of(layout)`.
    public var compatibility: String
    /// Data-plane transports the worker offers.
    public var transports: [String]
    /// Where the engine serves inference requests (its HTTP base URL), for a router; empty when none.
    public var endpoint: String

    public init(
        identity: WorkerIdentity, role: WorkerRole, layout: KVLayoutSpec, descriptor: [UInt8], node: String,
        rack: String, compatibility: String, transports: [String], endpoint: String = ""
    ) {
        self.identity = identity
        self.role = role
        self.layout = layout
        self.descriptor = descriptor
        self.node = node
        self.rack = rack
        self.compatibility = compatibility
        self.transports = transports
        self.endpoint = endpoint
    }
}
