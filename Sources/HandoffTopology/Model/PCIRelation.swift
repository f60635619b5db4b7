/// How far apart two PCI devices are, in the vocabulary of `nvidia-smi topo -m`, nearest first.
///
/// Through one PCIe switch (PIX, PXB) GPUDirect RDMA runs at line rate; through the CPU's host bridge (PHB),
/// between host bridges of one NUMA node (NODE) or across the socket interconnect (SYS) it drops sharply, and
/// NCCL and UCX by default stop using it beyond PXB.
public enum PCIRelation: String, Codable, Sendable, Comparable, CaseIterable {
    /// At most one PCIe bridge on each side: the two sit behind the same switch (or the same bridge).
    case pix = "PIX"
    /// Several PCIe bridges, without the host bridge: nested switches.
    case pxb = "PXB"
    /// Through a PCIe host bridge (the CPU), within one host bridge.
    case phb = "PHB"
    /// Between PCIe host bridges of one NUMA node.
    case node = "NODE"
    /// Across the interconnect between NUMA nodes (QPI/UPI, Infinity Fabric).
    case sys = "SYS"

    public static func < (lhs: PCIRelation, rhs: PCIRelation) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// One line on what the relation means for a transfer between the two devices.
    public var meaning: String {
        switch self {
        case .pix: "same PCIe switch"
        case .pxb: "several PCIe switches, no CPU"
        case .phb: "through the CPU's PCIe host bridge"
        case .node: "between PCIe host bridges of one NUMA node"
        case .sys: "across the socket interconnect"
        }
    }
}
