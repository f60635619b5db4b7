import CVerbs
import Glibc

/// The live node's RDMA devices through libibverbs: ports, states, link layers, MTUs, rates and GID tables.
enum RDMADeviceScanner {
    /// Every device libibverbs lists; a device that cannot be opened is listed with no ports.
    static func scan() -> [RDMADevice] {
        var count: Int32 = 0
        guard let list = ibv_get_device_list(&count) else { return [] }
        defer { ibv_free_device_list(list) }
        return (0..<Int(count)).compactMap { index in
            list[index].map(device)
        }
    }

    private static func device(_ device: UnsafeMutablePointer<ibv_device>) -> RDMADevice {
        let name = String(cString: ibv_get_device_name(device))
        let sysfs = "/sys/class/infiniband/\(name)"
        let pciAddress = SysfsReader.pciAddress(ofDeviceLink: "\(sysfs)/device")
        var result = RDMADevice(
            name: name, pciAddress: pciAddress, numaNode: pciAddress.flatMap(SysfsReader.numaNode(ofPCIAddress:)),
            nodeGUID: SysfsReader.text("\(sysfs)/node_guid"))
        guard let context = ibv_open_device(device) else { return result }
        defer { ibv_close_device(context) }
        var attributes = ibv_device_attr()
        guard ibv_query_device(context, &attributes) == 0 else { return result }
        let gids = gidTable(context)
        result.ports = (1...max(1, Int(attributes.phys_port_cnt))).compactMap { number in
            port(context, number: number, gids: gids[number] ?? [])
        }
        return result
    }

    private static func port(_ context: UnsafeMutablePointer<ibv_context>, number: Int, gids: [GIDEntry]) -> RDMAPort? {
        var attributes = ibv_port_attr()
        guard handoff_ibv_query_port(context, UInt8(number), &attributes) == 0 else { return nil }
        let linkLayer: RDMAPort.LinkLayer =
            Int(attributes.link_layer) == IBV_LINK_LAYER_ETHERNET ? .ethernet : .infiniband
        let width = laneCount(attributes.active_width)
        let laneRate = laneGbps(speed: UInt32(attributes.active_speed))
        return RDMAPort(
            number: number, state: RDMAPort.State(verbsValue: Int(attributes.state.rawValue)), linkLayer: linkLayer,
            activeMTU: mtuBytes(attributes.active_mtu.rawValue), maxMTU: mtuBytes(attributes.max_mtu.rawValue),
            rateGbps: width.flatMap { lanes in laneRate.map { Double(lanes) * $0 } }, width: width,
            netdev: gids.compactMap(\.netdev).first, gids: gids)
    }

    /// Valid GID entries by port number.
    private static func gidTable(_ context: UnsafeMutablePointer<ibv_context>) -> [Int: [GIDEntry]] {
        var entries = [ibv_gid_entry](repeating: ibv_gid_entry(), count: 1024)
        let count = ibv_query_gid_table(context, &entries, entries.count, 0)
        guard count > 0 else { return [:] }
        var table: [Int: [GIDEntry]] = [:]
        for entry in entries.prefix(count) {
            let raw = withUnsafeBytes(of: entry.gid.raw) { Array($0) }
            var interfaceName = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
            let netdev =
                entry.ndev_ifindex == 0
                ? nil : if_indextoname(entry.ndev_ifindex, &interfaceName).map { String(cString: $0) }
            let kind: GIDEntry.Kind =
                switch entry.gid_type {
                case UInt32(IBV_GID_TYPE_IB.rawValue): .infiniband
                case UInt32(IBV_GID_TYPE_ROCE_V1.rawValue): .roceV1
                case UInt32(IBV_GID_TYPE_ROCE_V2.rawValue): .roceV2
                default: .unknown
                }
            table[Int(entry.port_num), default: []].append(
                GIDEntry(index: Int(entry.gid_index), gid: gidText(raw), kind: kind, netdev: netdev))
        }
        return table
    }

    /// Eight groups of four hex digits, as the kernel writes GIDs in sysfs.
    static func gidText(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 2).map { index in
            String(format: "%02x%02x", bytes[index], bytes[index + 1])
        }.joined(separator: ":")
    }

    /// `ibv_mtu` (1 = 256 … 5 = 4096) in bytes.
    private static func mtuBytes(_ value: UInt32) -> Int? {
        (1...5).contains(value) ? 128 << Int(value) : nil
    }

    /// `active_width` (1, 2, 4, 8, 16 = 1x, 4x, 8x, 12x, 2x) as lanes.
    private static func laneCount(_ value: UInt8) -> Int? {
        [1: 1, 2: 4, 4: 8, 8: 12, 16: 2][value]
    }

    /// `active_speed` (SDR … XDR) as the data rate of one lane in Gb/s.
    private static func laneGbps(speed: UInt32) -> Double? {
        [1: 2.5, 2: 5, 4: 10, 8: 10, 16: 14, 32: 25, 64: 50, 128: 100, 256: 200][speed]
    }
}
