/// A network interface of the node, as the kernel (live) or a recorded topology shows it.
public struct NetworkInterface: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case ethernet
        case infiniband
        case loopback
        case other
    }

    public var name: String
    public var kind: Kind
    /// `up`, `down`, `unknown`, … (the kernel's operstate); nil when not recorded.
    public var state: String?
    /// Link speed in Mb/s; nil when the driver does not say (virtual links) or it was not recorded.
    public var speedMbps: Int?
    public var mtu: Int?
    /// The PCI device behind it; nil for virtual interfaces (veth, bridges, loopback).
    public var pciAddress: String?
    public var numaNode: Int?
    public var macAddress: String?
    /// IPv4 and IPv6 addresses with their prefix length (`10.0.0.5/24`).
    public var addresses: [String]
    /// The RDMA device that shares its PCI device (`mlx5_0` for a ConnectX port), if any.
    public var rdmaDevice: String?

    public init(
        name: String, kind: Kind, state: String? = nil, speedMbps: Int? = nil, mtu: Int? = nil,
        pciAddress: String? = nil, numaNode: Int? = nil, macAddress: String? = nil, addresses: [String] = [],
        rdmaDevice: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.state = state
        self.speedMbps = speedMbps
        self.mtu = mtu
        self.pciAddress = pciAddress
        self.numaNode = numaNode
        self.macAddress = macAddress
        self.addresses = addresses
        self.rdmaDevice = rdmaDevice
    }

    /// Whether it is backed by a PCI device rather than being virtual.
    public var isPhysical: Bool { pciAddress != nil }

    enum CodingKeys: String, CodingKey {
        case name, kind, state, mtu, addresses
        case speedMbps = "speed_mbps"
        case pciAddress = "pci_address"
        case numaNode = "numa_node"
        case macAddress = "mac_address"
        case rdmaDevice = "rdma_device"
    }
}
