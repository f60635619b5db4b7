/// What `handoff topo` knows about one node: its interfaces, RDMA devices, UCX, GPUs, the PCIe relation of each
/// GPU to each NIC, and the memlock limit. Discovered live, read from a recorded hwloc XML, or read back from
/// the JSON that `handoff topo --json` writes.
public struct NodeTopology: Codable, Sendable, Equatable {
    /// Where the picture comes from.
    public enum Source: String, Codable, Sendable {
        /// This machine, now.
        case live
        /// A recorded hwloc XML: PCI tree, GPUs, NICs and RDMA ports as recorded; no UCX, no memlock.
        case hwlocXML = "hwloc-xml"
        /// A `handoff topo --json` export.
        case export
    }

    /// The host name (the file name for a recorded hwloc XML).
    public var host: String
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`), shared by every process and network namespace
    /// of one machine: two nodes with one boot id are one host. nil when not known.
    public var bootID: String?
    public var source: Source
    public var interfaces: [NetworkInterface]
    public var rdmaDevices: [RDMADevice]
    /// nil when not known (a recorded hwloc XML).
    public var ucx: UCXView?
    public var gpus: [GPU]
    public var affinity: [AffinityEntry]
    /// nil when not known (a recorded hwloc XML).
    public var memlock: MemlockLimit?
    /// Parts that could not be read, and how a recorded file was read.
    public var discoveryErrors: [String] = []

    public init(
        host: String, source: Source, interfaces: [NetworkInterface] = [], rdmaDevices: [RDMADevice] = [],
        ucx: UCXView? = nil, gpus: [GPU] = [], affinity: [AffinityEntry] = [], memlock: MemlockLimit? = nil
    ) {
        self.host = host
        self.source = source
        self.interfaces = interfaces
        self.rdmaDevices = rdmaDevices
        self.ucx = ucx
        self.gpus = gpus
        self.affinity = affinity
        self.memlock = memlock
    }

    enum CodingKeys: String, CodingKey {
        case host, source, interfaces, ucx, gpus, affinity, memlock
        case bootID = "boot_id"
        case rdmaDevices = "rdma_devices"
        case discoveryErrors = "discovery_errors"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decode(String.self, forKey: .host)
        bootID = try container.decodeIfPresent(String.self, forKey: .bootID)
        source = try container.decode(Source.self, forKey: .source)
        interfaces = try container.decode([NetworkInterface].self, forKey: .interfaces)
        rdmaDevices = try container.decode([RDMADevice].self, forKey: .rdmaDevices)
        ucx = try container.decodeIfPresent(UCXView.self, forKey: .ucx)
        gpus = try container.decode([GPU].self, forKey: .gpus)
        affinity = try container.decode([AffinityEntry].self, forKey: .affinity)
        memlock = try container.decodeIfPresent(MemlockLimit.self, forKey: .memlock)
        discoveryErrors = try container.decodeIfPresent([String].self, forKey: .discoveryErrors) ?? []
    }

    /// Unknown parts are written as `null`, not left out, so a reader sees every key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(host, forKey: .host)
        try container.encode(bootID, forKey: .bootID)
        try container.encode(source, forKey: .source)
        try container.encode(interfaces, forKey: .interfaces)
        try container.encode(rdmaDevices, forKey: .rdmaDevices)
        try container.encode(ucx, forKey: .ucx)
        try container.encode(gpus, forKey: .gpus)
        try container.encode(affinity, forKey: .affinity)
        try container.encode(memlock, forKey: .memlock)
        try container.encode(discoveryErrors, forKey: .discoveryErrors)
    }
}
