import CHwloc
import Glibc

/// One hwloc topology, of this machine or of a recorded XML, loaded with every I/O object (PCI bridges and
/// devices, OS devices), and the PCI inventory read from it.
final class HwlocTopology {
    private let topology: hwloc_topology_t

    /// Loads this machine's topology, or the one recorded in `xml`.
    private init(xml: String?) throws(TopologyError) {
        var handle: hwloc_topology_t?
        guard hwloc_topology_init(&handle) == 0, let handle else {
            throw .hwloc(operation: "hwloc_topology_init", errno: errno)
        }
        func failure(_ operation: String) -> TopologyError {
            let error = TopologyError.hwloc(operation: operation, errno: errno)
            hwloc_topology_destroy(handle)
            return error
        }
        guard hwloc_topology_set_io_types_filter(handle, HWLOC_TYPE_FILTER_KEEP_ALL) == 0 else {
            throw failure("hwloc_topology_set_io_types_filter")
        }
        if let xml {
            let status = xml.withCString { hwloc_topology_set_xmlbuffer(handle, $0, Int32(xml.utf8.count + 1)) }
            guard status == 0 else { throw failure("hwloc_topology_set_xmlbuffer") }
        }
        guard hwloc_topology_load(handle) == 0 else { throw failure("hwloc_topology_load") }
        topology = handle
    }

    deinit { hwloc_topology_destroy(topology) }

    /// This machine's topology.
    static func live() throws(TopologyError) -> HwlocTopology {
        try HwlocTopology(xml: nil)
    }

    /// A topology recorded as hwloc XML (`lstopo --of xml`, `hwloc_topology_export_xml`).
    static func xml(_ text: String) throws(TopologyError) -> HwlocTopology {
        try HwlocTopology(xml: text)
    }

    /// Every PCI device, in hwloc's order (PCI bus order).
    func pciInventory() -> PCIInventory {
        var devices: [PCIDevice] = []
        var object = hwloc_get_next_pcidev(topology, nil)
        while let current = object {
            devices.append(pciDevice(current))
            object = hwloc_get_next_pcidev(topology, current)
        }
        return PCIInventory(devices: devices)
    }

    private func pciDevice(_ object: hwloc_obj_t) -> PCIDevice {
        let pci = object.pointee.attr.pointee.pcidev
        var bridges: [UInt64] = []
        var underHostBridge = false
        var parent = object.pointee.parent
        while let bridge = parent, bridge.pointee.type == HWLOC_OBJ_BRIDGE {
            bridges.append(bridge.pointee.gp_index)
            underHostBridge = bridge.pointee.attr.pointee.bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST
            parent = bridge.pointee.parent
        }
        var osDevices: [PCIDevice.OSDevice] = []
        var child = object.pointee.io_first_child
        while let current = child {
            if current.pointee.type == HWLOC_OBJ_OS_DEVICE {
                osDevices.append(
                    PCIDevice.OSDevice(
                        name: current.pointee.name.map { String(cString: $0) } ?? "",
                        kind: Self.kind(of: current.pointee.attr.pointee.osdev.type),
                        infos: Self.infos(of: current)))
            }
            child = current.pointee.next_sibling
        }
        return PCIDevice(
            address: String(
                format: "%04x:%02x:%02x.%x", UInt32(pci.domain), UInt32(pci.bus), UInt32(pci.dev), UInt32(pci.func)),
            vendorID: pci.vendor_id, deviceID: pci.device_id, classID: pci.class_id,
            productName: Self.infos(of: object)["PCIDevice"],
            numaNodes: numaNodes(near: object), bridges: bridges, underHostBridge: underHostBridge, osDevices: osDevices
        )
    }

    /// The NUMA nodes of the first non-I/O ancestor, by OS index.
    private func numaNodes(near object: hwloc_obj_t) -> [Int] {
        guard let ancestor = hwloc_get_non_io_ancestor_obj(topology, object), let nodeset = ancestor.pointee.nodeset
        else {
            return []
        }
        var nodes: [Int] = []
        var index = hwloc_bitmap_first(nodeset)
        while index >= 0 {
            nodes.append(Int(index))
            index = hwloc_bitmap_next(nodeset, index)
        }
        return nodes
    }

    private static func infos(of object: hwloc_obj_t) -> [String: String] {
        var infos: [String: String] = [:]
        guard let list = object.pointee.infos else { return infos }
        for index in 0..<Int(object.pointee.infos_count) {
            guard let name = list[index].name, let value = list[index].value else { continue }
            infos[String(cString: name)] = String(cString: value)
        }
        return infos
    }

    private static func kind(of type: hwloc_obj_osdev_type_t) -> PCIDevice.OSDevice.Kind {
        switch type {
        case HWLOC_OBJ_OSDEV_BLOCK: .block
        case HWLOC_OBJ_OSDEV_GPU: .gpu
        case HWLOC_OBJ_OSDEV_NETWORK: .network
        case HWLOC_OBJ_OSDEV_OPENFABRICS: .openFabrics
        case HWLOC_OBJ_OSDEV_DMA: .dma
        case HWLOC_OBJ_OSDEV_COPROC: .coprocessor
        default: .other
        }
    }
}
