import HandoffControlProtocol

/// A live worker as the pairing policy sees it.
public struct PairingCandidate: Sendable, Hashable {
    public var identity: WorkerIdentity
    public var role: WorkerRole
    public var model: String
    public var compatibility: String
    public var node: String
    public var rack: String
    /// Blocks the worker can still take: its last heartbeat's count less what was promised since.
    public var freeBlocks: Int
    /// Tickets the coordinator has in flight on it plus the queue depth it reported.
    public var load: Int
    /// The coordinator's numbers for its compatibility hash, rack and node, so that pairing groups workers by
    /// integers; nil for a candidate made elsewhere (grouped by the strings).
    var groupKeys: GroupKeys?

    /// Interned labels: equal numbers for equal strings, -1 for an empty label.
    struct GroupKeys: Hashable {
        var compatibility: Int
        var rack: Int
        var node: Int
    }

    public init(
        identity: WorkerIdentity, role: WorkerRole, model: String, compatibility: String, node: String, rack: String,
        freeBlocks: Int, load: Int
    ) {
        self.identity = identity
        self.role = role
        self.model = model
        self.compatibility = compatibility
        self.node = node
        self.rack = rack
        self.freeBlocks = freeBlocks
        self.load = load
    }
}

/// What the policy is asked to place.
public struct PairingDemand: Sendable, Hashable {
    public var model: String
    /// Blocks both sides need.
    public var blocks: Int
    /// Prefill workers not to use (e.g. the one whose attempt just failed), unless nothing else fits.
    public var avoidPrefill: Set<String>
    /// When set, the decode worker must be this one.
    public var decode: WorkerIdentity?

    public init(model: String, blocks: Int, avoidPrefill: Set<String> = [], decode: WorkerIdentity? = nil) {
        self.model = model
        self.blocks = blocks
        self.avoidPrefill = avoidPrefill
        self.decode = decode
    }
}
