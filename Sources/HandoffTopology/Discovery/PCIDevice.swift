/// A PCI device from hwloc's tree, with what its place in the tree says about its distance to others.
struct PCIDevice: Sendable, Equatable {
    /// An operating-system device that hwloc attaches to a PCI device (`eth0`, `mlx5_0`, `cuda0`).
    struct OSDevice: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case block, gpu, network, openFabrics, dma, coprocessor, other
        }

        var name: String
        var kind: Kind
        var infos: [String: String]
    }

    /// `0000:84:00.0`.
    var address: String
    var vendorID: UInt16
    var deviceID: UInt16
    /// The PCI class and subclass (`0x0302`: 3D controller).
    var classID: UInt16
    /// The product name hwloc recorded (`PCIDevice` info), if any.
    var productName: String?
    /// NUMA nodes (OS indexes) of the first non-I/O object above it: one node when its locality is known.
    var numaNodes: [Int]
    /// Identities of the bridges above it, nearest first; the last is its host bridge when it has one.
    var bridges: [UInt64]
    /// Whether the last of `bridges` is a host bridge.
    var underHostBridge: Bool
    var osDevices: [OSDevice]

    /// The NUMA node, when exactly one.
    var numaNode: Int? { numaNodes.count == 1 ? numaNodes[0] : nil }

    var hostBridge: UInt64? { underHostBridge ? bridges.last : nil }

    static let nvidia: UInt16 = 0x10de
    static let amd: UInt16 = 0x1002

    /// Network controllers (class 0x02) and InfiniBand controllers (0x0c06), or anything carrying a network
    /// or RDMA OS device.
    var isNIC: Bool {
        classID >> 8 == 0x02 || classID == 0x0c06
            || osDevices.contains { $0.kind == .network || $0.kind == .openFabrics }
    }

    /// A compute GPU: NVIDIA's display and 3D controllers; AMD's 3D, display-other and processing-accelerator
    /// controllers (its VGA class is also onboard server graphics, counted only with a ROCm device recorded).
    var gpuVendor: GPU.Vendor? {
        let base = classID >> 8
        switch vendorID {
        case Self.nvidia where base == 0x03 || base == 0x12: return .nvidia
        case Self.amd where classID == 0x0302 || classID == 0x0380 || base == 0x12: return .amd
        case Self.amd where classID == 0x0300 && osDevices.contains(where: { $0.name.hasPrefix("rsmi") }): return .amd
        default: return nil
        }
    }
}
