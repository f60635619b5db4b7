import Foundation
import Glibc

/// Builds a `NodeTopology`: of this machine, or of a recorded one.
public enum TopologyDiscovery {
    /// This machine now: PCI tree through hwloc, interfaces from the kernel, RDMA devices through libibverbs, UCX
    /// through its own queries, and the memlock limit. A part that cannot be read is named in
    /// `discoveryErrors`; the rest is still reported.
    public static func live() -> NodeTopology {
        var errors: [String] = []
        let inventory: PCIInventory
        do {
            inventory = try HwlocTopology.live().pciInventory()
        } catch {
            errors.append("PCI topology (hwloc): \(error)")
            inventory = PCIInventory(devices: [])
        }
        var interfaces = NetworkInterfaceScanner.scan()
        for index in interfaces.indices where interfaces[index].numaNode == nil {
            interfaces[index].numaNode = interfaces[index].pciAddress.flatMap { inventory.device(at: $0)?.numaNode }
        }
        var rdmaDevices = RDMADeviceScanner.scan()
        for index in rdmaDevices.indices where rdmaDevices[index].pciAddress == nil {
            let carrier = inventory.devices.first { $0.osDevices.contains { $0.name == rdmaDevices[index].name } }
            rdmaDevices[index].pciAddress = carrier?.address
            rdmaDevices[index].numaNode = rdmaDevices[index].numaNode ?? carrier?.numaNode
        }
        let gpus = inventory.gpus()
        var topology = NodeTopology(
            host: ProcessInfo.processInfo.hostName, source: .live, interfaces: interfaces, rdmaDevices: rdmaDevices,
            ucx: UCXResourceScanner.scan(), gpus: gpus,
            affinity: inventory.affinity(gpus: gpus, rdmaAddresses: Set(rdmaDevices.compactMap(\.pciAddress))),
            memlock: memlockLimit())
        topology.bootID = SysfsReader.text("/proc/sys/kernel/random/boot_id")
        topology.discoveryErrors = errors
        return topology
    }

    /// A recorded topology: an hwloc XML (hwloc 2.x; a 3.x file is read as 2.x, since hwloc 2 refuses it and
    /// the PCI tree reads the same) or a `handoff topo --json` export.
    /// - Throws: `TopologyError` when the file cannot be read or is neither.
    public static func recorded(path: String) throws(TopologyError) -> NodeTopology {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        let text = String(decoding: data, as: UTF8.self)
        let start = text.drop { $0.isWhitespace }
        if start.hasPrefix("{") { return try export(text, path: path) }
        guard start.hasPrefix("<?xml") || start.hasPrefix("<topology") else {
            throw .unsupportedFile(path: path, reason: "neither hwloc XML nor a 'handoff topo --json' export")
        }
        return try hwlocXML(text, path: path)
    }

    private static func hwlocXML(_ text: String, path: String) throws(TopologyError) -> NodeTopology {
        var xml = text
        var notes: [String] = []
        if let range = xml.range(of: #"<topology version="[3-9][^"]*""#, options: .regularExpression) {
            xml.replaceSubrange(range, with: #"<topology version="2.0""#)
            notes.append("read as hwloc 2 XML: \(text[range].dropFirst("<topology ".count))")
        }
        let inventory: PCIInventory
        do {
            inventory = try HwlocTopology.xml(xml).pciInventory()
        } catch {
            throw .unsupportedFile(path: path, reason: "hwloc cannot load it (\(error))")
        }
        let gpus = inventory.gpus()
        var topology = NodeTopology(
            host: URL(fileURLWithPath: path).lastPathComponent, source: .hwlocXML,
            interfaces: inventory.recordedInterfaces(), rdmaDevices: inventory.recordedRDMADevices(), gpus: gpus,
            affinity: inventory.affinity(gpus: gpus))
        topology.discoveryErrors = notes
        return topology
    }

    private static func export(_ text: String, path: String) throws(TopologyError) -> NodeTopology {
        do {
            var topology = try JSONDecoder().decode(NodeTopology.self, from: Data(text.utf8))
            topology.source = .export
            return topology
        } catch {
            throw .unsupportedFile(path: path, reason: "not a 'handoff topo --json' export: \(error)")
        }
    }

    private static func memlockLimit() -> MemlockLimit? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else { return nil }
        // RLIM_INFINITY is all ones.
        func bytes(_ value: rlim_t) -> UInt64? { value == rlim_t.max ? nil : UInt64(value) }
        return MemlockLimit(currentBytes: bytes(limit.rlim_cur), maximumBytes: bytes(limit.rlim_max))
    }
}
