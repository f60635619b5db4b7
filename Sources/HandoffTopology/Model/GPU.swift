/// A GPU found on the PCI bus (NVIDIA or AMD compute devices), numbered in PCI bus order as CUDA does with
/// `CUDA_DEVICE_ORDER=PCI_BUS_ID`.
public struct GPU: Codable, Sendable, Equatable {
    public enum Vendor: String, Codable, Sendable {
        case nvidia
        case amd
    }

    /// `GPU0`, `GPU1`, … in PCI bus order.
    public var name: String
    public var vendor: Vendor
    /// The product name, when known (`Tesla K40m`).
    public var model: String?
    /// `0000:84:00.0`.
    public var pciAddress: String
    /// The NUMA node the GPU is attached to; nil when unknown.
    public var numaNode: Int?
    /// Names the drivers give it (`cuda0`, `nvml0`, `rsmi0`), when recorded.
    public var osDevices: [String]

    public init(name: String, vendor: Vendor, model: String?, pciAddress: String, numaNode: Int?, osDevices: [String]) {
        self.name = name
        self.vendor = vendor
        self.model = model
        self.pciAddress = pciAddress
        self.numaNode = numaNode
        self.osDevices = osDevices
    }

    enum CodingKeys: String, CodingKey {
        case name, vendor, model
        case pciAddress = "pci_address"
        case numaNode = "numa_node"
        case osDevices = "os_devices"
    }
}
