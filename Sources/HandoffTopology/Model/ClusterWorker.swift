/// One worker registered with a coordinator, as `handoff topo --coordinator` shows it: its labels, its state
/// and load, and how peers reach its KV pool.
public struct ClusterWorker: Codable, Sendable, Equatable {
    /// One transport the worker's pool descriptor offers.
    public struct Offer: Codable, Sendable, Equatable {
        /// `ucx` or `tcp`.
        public var transport: String
        /// `host:port` endpoints of a TCP offer, in the order peers try them; empty for UCX.
        public var endpoints: [String]

        public init(transport: String, endpoints: [String] = []) {
            self.transport = transport
            self.endpoints = endpoints
        }
    }

    /// The worker's id (stable across its restarts).
    public var id: String
    /// `prefill` or `decode`.
    public var role: String
    /// The model its KV layout is for.
    public var model: String
    /// The KV layout hash: only workers with equal hashes are paired.
    public var compatibility: String
    /// Its node and rack labels.
    public var node: String
    public var rack: String
    /// Whether the coordinator still pairs the worker (its session is up and heartbeating).
    public var live: Bool
    /// Why the coordinator declared it lost; empty while live.
    public var lostReason: String
    /// Whether its session ended in an orderly way (the worker or the coordinator shut down), not broken off.
    public var lostGracefully: Bool
    public var secondsSinceHeartbeat: Double
    /// Blocks of its KV pool free now, and in all.
    public var freeBlocks: Int
    public var numBlocks: Int
    /// Requests waiting on it.
    public var queueDepth: Int
    /// The data plane it registered with: `auto`, `ucx` or `tcp`.
    public var transport: String
    /// What its pool descriptor offers; empty when the coordinator did not say (an older coordinator).
    public var offers: [Offer]
    /// Its descriptor's host identity (the kernel boot id): equal on one machine, where shared memory works.
    public var hostIdentity: String?
    /// Where its KV pool lives: host, cuda or rocm.
    public var memoryType: String?

    public init(
        id: String, role: String, model: String, compatibility: String, node: String = "", rack: String = "",
        live: Bool = true,
        lostReason: String = "", lostGracefully: Bool = false, secondsSinceHeartbeat: Double = 0, freeBlocks: Int = 0,
        numBlocks: Int = 0, queueDepth: Int = 0, transport: String, offers: [Offer], hostIdentity: String? = nil,
        memoryType: String? = nil
    ) {
        self.id = id
        self.role = role
        self.model = model
        self.compatibility = compatibility
        self.node = node
        self.rack = rack
        self.live = live
        self.lostReason = lostReason
        self.lostGracefully = lostGracefully
        self.secondsSinceHeartbeat = secondsSinceHeartbeat
        self.freeBlocks = freeBlocks
        self.numBlocks = numBlocks
        self.queueDepth = queueDepth
        self.transport = transport
        self.offers = offers
        self.hostIdentity = hostIdentity
        self.memoryType = memoryType
    }

    /// The transports its descriptor offers.
    public var offeredTransports: Set<String> { Set(offers.map(\.transport)) }

    /// Its TCP endpoints, in the order peers try them.
    public var tcpEndpoints: [String] { offers.filter { $0.transport == "tcp" }.flatMap(\.endpoints) }

    enum CodingKeys: String, CodingKey {
        case id, role, model, compatibility, node, rack, live, transport, offers
        case lostReason = "lost_reason"
        case lostGracefully = "lost_gracefully"
        case secondsSinceHeartbeat = "seconds_since_heartbeat"
        case freeBlocks = "free_blocks"
        case numBlocks = "num_blocks"
        case queueDepth = "queue_depth"
        case hostIdentity = "host_identity"
        case memoryType = "memory_type"
    }
}
