/// The PCI devices of one node and the relation between any two of them.
struct PCIInventory: Sendable {
    var devices: [PCIDevice]

    /// The relation between two devices, in `nvidia-smi topo -m`'s terms:
    /// - SYS: their NUMA nodes differ (or one's locality is unknown on a multi-node machine);
    /// - NODE: same NUMA node, different host bridges;
    /// - PHB: their nearest common bridge is the host bridge;
    /// - PIX: their nearest common bridge is a PCIe bridge with at most one more bridge below it on each side
    ///   (a switch's upstream port above its downstream ports);
    /// - PXB: a common PCIe bridge further up (nested switches).
    func relation(_ a: PCIDevice, _ b: PCIDevice) -> PCIRelation {
        if a.address == b.address { return .pix }
        if a.numaNodes != b.numaNodes { return .sys }
        if a.hostBridge != b.hostBridge || a.bridges.isEmpty || b.bridges.isEmpty { return .node }
        guard let common = a.bridges.firstIndex(where: { b.bridges.contains($0) }) else { return .node }
        if a.underHostBridge && common == a.bridges.count - 1 { return .phb }
        let belowOnB = b.bridges.firstIndex(of: a.bridges[common])!
        return common <= 1 && belowOnB <= 1 ? .pix : .pxb
    }

    func device(at address: String) -> PCIDevice? {
        devices.first { $0.address == address }
    }
}
