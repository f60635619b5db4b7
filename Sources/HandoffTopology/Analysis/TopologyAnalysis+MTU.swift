/// MTUs: RDMA ports below 4096 bytes, and interfaces that should match but do not.
extension TopologyAnalysis {
    func mtuFindings(_ topology: NodeTopology) -> [Finding] {
        var findings: [Finding] = []
        for device in topology.rdmaDevices {
            for port in device.ports where port.state == .active {
                guard let active = port.activeMTU, active < 4096 else { continue }
                let subject = "\(device.name) port \(port.number)"
                let supported = port.maxMTU.map { $0 > active ? " (it supports \($0))" : "" } ?? ""
                if port.linkLayer == .ethernet {
                    let interfaceMTU = port.netdev.flatMap { name in topology.interfaces.first { $0.name == name }?.mtu
                    }
                    findings.append(
                        Finding(
                            .warning, .lowMTU, subject: subject,
                            message: "RoCE port \(subject) runs an MTU of \(active) bytes\(supported)"
                                + (interfaceMTU.map { ", limited by \(port.netdev!)'s MTU of \($0)" } ?? "")
                                + ": more packets and more per-packet work for every KV block.",
                            advice: "Set MTU 9000 on \(port.netdev ?? "the interface") and on the switch ports "
                                + "('ip link set \(port.netdev ?? "DEV") mtu 9000'); RoCE then runs 4096."))
                } else {
                    findings.append(
                        Finding(
                            .warning, .lowMTU, subject: subject,
                            message:
                                "InfiniBand port \(subject) runs an MTU of \(active) bytes\(supported); 4096 is usual.",
                            advice: "Raise the partition's MTU in the subnet manager (opensm partitions.conf: mtu=5)."))
                }
            }
        }
        return findings + interfaceMTUFindings(topology)
    }

    /// Physical, up interfaces that carry KV (those of RDMA devices when there are any, else all Ethernet ones):
    /// differing MTUs, and fast TCP links without jumbo frames.
    private func interfaceMTUFindings(_ topology: NodeTopology) -> [Finding] {
        let up = topology.interfaces.filter {
            $0.isPhysical && $0.state == "up" && $0.mtu != nil && $0.kind != .loopback
        }
        let rdmaInterfaces = up.filter { $0.rdmaDevice != nil }
        let carriers = rdmaInterfaces.isEmpty ? up.filter { $0.kind == .ethernet } : rdmaInterfaces
        var findings: [Finding] = []
        let mtus = Set(carriers.compactMap(\.mtu))
        if mtus.count > 1 {
            let list = carriers.map { "\($0.name) \($0.mtu!)" }.joined(separator: ", ")
            findings.append(
                Finding(
                    .warning, .mtuMismatch, subject: carriers.map(\.name).joined(separator: ", "),
                    message:
                        "The interfaces that carry KV have different MTUs (\(list)): transfers over the smaller ones "
                        + "run more packets, and a path whose MTU is below the sender's drops or fragments.",
                    advice:
                        "Give every KV interface, and the switch ports between them, one MTU (9000 for RoCE and fast TCP)."
                ))
        }
        if rdmaInterfaces.isEmpty {
            for interface in carriers where (interface.speedMbps ?? 0) >= 25_000 && interface.mtu! <= 1500 {
                findings.append(
                    Finding(
                        .info, .lowMTU, subject: interface.name,
                        message: "\(interface.name) runs \(interface.speedMbps! / 1000) Gb/s with an MTU of "
                            + "\(interface.mtu!): TCP KV transfer spends more CPU per byte than with jumbo frames.",
                        advice: "Set MTU 9000 on \(interface.name) and the switch ports if the network allows it."))
            }
        }
        return findings
    }
}
