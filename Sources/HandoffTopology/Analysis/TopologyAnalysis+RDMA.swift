/// RDMA devices and ports: present, active, RoCE with routable GIDs.
extension TopologyAnalysis {
    func rdmaFindings(_ topology: NodeTopology) -> [Finding] {
        if topology.rdmaDevices.isEmpty {
            return [
                Finding(
                    requireRDMA ? .error : .warning, .noRDMA,
                    message: "No RDMA device: KV transfers will use TCP (UCX's tcp transport or handoff's native TCP), "
                        + "at a fraction of what InfiniBand or RoCE carries.",
                    advice:
                        "On a host with RDMA NICs, load their drivers (mlx5_core, mlx5_ib) and install rdma-core; in "
                        + "a container, expose /dev/infiniband (an RDMA device plugin) and grant IPC_LOCK. Without RDMA, "
                        + "run native TCP with several streams (--transport tcp --tcp-streams 4).")
            ]
        }
        var findings: [Finding] = []
        for device in topology.rdmaDevices {
            for port in device.ports {
                if let finding = inactivePort(device, port) { findings.append(finding) }
                if let finding = roceWithoutV2(device, port) { findings.append(finding) }
            }
        }
        if !topology.rdmaDevices.contains(where: { $0.ports.isEmpty }) && usableRDMADevices(topology).isEmpty {
            findings.append(
                Finding(
                    .error, .rdmaPortDown,
                    message: "No RDMA port is active: KV transfers will use TCP although the node has "
                        + "\(topology.rdmaDevices.map(\.name).joined(separator: ", ")).",
                    advice: "Bring a port up (see the findings for each port), then check with 'ibv_devinfo'."))
        }
        return findings
    }

    private func inactivePort(_ device: RDMADevice, _ port: RDMAPort) -> Finding? {
        let subject = "\(device.name) port \(port.number)"
        let others = device.hasActivePort ? " The device's other ports are active." : ""
        switch port.state {
        case .active, .activeDeferred:
            return nil
        case .down:
            return Finding(
                .warning, .rdmaPortDown, subject: subject,
                message: "\(subject) is down: no link, so it carries no KV.\(others)",
                advice: "Check the cable and the switch port, and that the port's interface is up "
                    + "(\(port.netdev.map { "'ip link set \($0) up'" } ?? "'ip link'")); 'ibstat' shows the physical state."
            )
        case .initializing, .armed:
            return Finding(
                .warning, .rdmaPortDown, subject: subject,
                message: "\(subject) has a link but is \(port.state.rawValue), not active: on InfiniBand no subnet "
                    + "manager has configured it, so it carries no KV.\(others)",
                advice: "Run a subnet manager on the fabric (opensm, or the switch's own), then check 'ibstat'.")
        case .unknown:
            return Finding(
                .warning, .rdmaPortDown, subject: subject, message: "\(subject) is in an unknown state.\(others)",
                advice: "Check it with 'ibv_devinfo -v'.")
        }
    }

    private func roceWithoutV2(_ device: RDMADevice, _ port: RDMAPort) -> Finding? {
        guard port.linkLayer == .ethernet, port.state == .active, !port.gids.contains(where: { $0.kind == .roceV2 })
        else {
            return nil
        }
        let subject = "\(device.name) port \(port.number)"
        let netdev = port.netdev ?? "its interface"
        let what =
            port.gids.isEmpty
            ? "has no GID at all: UCX cannot address it"
            : "has only RoCE v1 GIDs: not routable beyond one L2 segment, and UCX and NCCL look for v2"
        return Finding(
            .warning, .roceWithoutV2GID, subject: subject, message: "RoCE port \(subject) \(what).",
            advice: "Give \(netdev) an IP address (RoCE v2 GIDs follow the interface's addresses), check "
                + "/sys/class/infiniband/\(device.name)/ports/\(port.number)/gid_attrs/types, and pin the v2 GID's "
                + "index with UCX_IB_GID_INDEX if needed.")
    }
}
