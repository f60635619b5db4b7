/// An RDMA device (an InfiniBand HCA or a RoCE NIC) with its ports, as libibverbs (live) or a recorded
/// topology shows it.
public struct RDMADevice: Codable, Sendable, Equatable {
    /// `mlx5_0`.
    public var name: String
    public var pciAddress: String?
    public var numaNode: Int?
    public var nodeGUID: String?
    public var ports: [RDMAPort]

    public init(
        name: String, pciAddress: String? = nil, numaNode: Int? = nil, nodeGUID: String? = nil, ports: [RDMAPort] = []
    ) {
        self.name = name
        self.pciAddress = pciAddress
        self.numaNode = numaNode
        self.nodeGUID = nodeGUID
        self.ports = ports
    }

    /// Whether at least one port can carry traffic.
    public var hasActivePort: Bool { ports.contains { $0.state == .active } }

    enum CodingKeys: String, CodingKey {
        case name, ports
        case pciAddress = "pci_address"
        case numaNode = "numa_node"
        case nodeGUID = "node_guid"
    }
}

/// One port of an RDMA device.
public struct RDMAPort: Codable, Sendable, Equatable {
    /// The port's logical state (`ibv_port_state`).
    public enum State: String, Codable, Sendable {
        case down
        /// Link up, but no subnet manager has configured it (InfiniBand).
        case initializing = "init"
        case armed
        case active
        case activeDeferred = "active_defer"
        case unknown

        /// The state of `ibv_port_state`'s numeric value, also what hwloc records as `PortNState`.
        public init(verbsValue: Int) {
            switch verbsValue {
            case 1: self = .down
            case 2: self = .initializing
            case 3: self = .armed
            case 4: self = .active
            case 5: self = .activeDeferred
            default: self = .unknown
            }
        }
    }

    public enum LinkLayer: String, Codable, Sendable {
        case infiniband
        /// RoCE.
        case ethernet
        case unknown
    }

    public var number: Int
    public var state: State
    public var linkLayer: LinkLayer
    /// The MTU in use, in bytes (256 … 4096); nil when not recorded.
    public var activeMTU: Int?
    /// The largest MTU the port supports.
    public var maxMTU: Int?
    /// Link rate in Gb/s (lanes × rate per lane); nil when not recorded.
    public var rateGbps: Double?
    /// Lanes: 1, 2, 4, 8, 12.
    public var width: Int?
    /// The network interface of a RoCE port (`eth2`).
    public var netdev: String?
    public var gids: [GIDEntry]

    public init(
        number: Int, state: State, linkLayer: LinkLayer = .unknown, activeMTU: Int? = nil, maxMTU: Int? = nil,
        rateGbps: Double? = nil, width: Int? = nil, netdev: String? = nil, gids: [GIDEntry] = []
    ) {
        self.number = number
        self.state = state
        self.linkLayer = linkLayer
        self.activeMTU = activeMTU
        self.maxMTU = maxMTU
        self.rateGbps = rateGbps
        self.width = width
        self.netdev = netdev
        self.gids = gids
    }

    enum CodingKeys: String, CodingKey {
        case number, state, width, netdev, gids
        case linkLayer = "link_layer"
        case activeMTU = "active_mtu"
        case maxMTU = "max_mtu"
        case rateGbps = "rate_gbps"
    }
}

/// One entry of a port's GID table.
public struct GIDEntry: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case infiniband = "ib"
        case roceV1 = "roce_v1"
        /// Routable RoCE (over UDP/IP): what UCX and NCCL need on Ethernet.
        case roceV2 = "roce_v2"
        case unknown
    }

    public var index: Int
    /// The GID in IPv6 notation (`fe80:0000:…`, or `0000:…:ffff:0a00:0005` for an IPv4-mapped RoCE v2 GID).
    public var gid: String
    public var kind: Kind
    /// The network interface the GID belongs to (RoCE).
    public var netdev: String?

    public init(index: Int, gid: String, kind: Kind, netdev: String? = nil) {
        self.index = index
        self.gid = gid
        self.kind = kind
        self.netdev = netdev
    }
}
