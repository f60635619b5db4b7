import HandoffCore
import HandoffTopology

/// `handoff topo`'s report as text: one section per part of the node, then the findings.
struct TopologyText {
    let report: TopologyReport
    let style: TerminalStyle

    func lines() -> [String] {
        let topology = report.topology
        var lines = [style.bold("handoff topo: \(topology.host)") + style.dim(" (\(sourceText(topology.source)))"), ""]
        lines += section("Network interfaces", interfaces(topology.interfaces))
        lines += section("RDMA devices", rdmaDevices(topology.rdmaDevices))
        lines += section("UCX" + (topology.ucx?.version.map { " \($0)" } ?? ""), ucx(topology.ucx))
        lines += section("GPUs", gpus(topology.gpus))
        lines += section("GPU to NIC (PCIe)", affinity(topology))
        lines += section("Memory", memlock(topology.memlock))
        if let peer = report.peer { lines += section("Peer \(peer.address)", self.peer(peer)) }
        lines += [style.bold("Findings")] + FindingsText(style: style).lines(report.findings)
        return lines
    }

    private func sourceText(_ source: NodeTopology.Source) -> String {
        switch source {
        case .live: "this machine"
        case .hwlocXML: "recorded hwloc XML"
        case .export: "recorded handoff topo export"
        }
    }

    private func section(_ title: String, _ body: [String]) -> [String] {
        [style.bold(title)] + body + [""]
    }

    private func interfaces(_ interfaces: [NetworkInterface]) -> [String] {
        guard !interfaces.isEmpty else { return ["  none"] }
        var table = TextTable("NAME", "KIND", "STATE", "SPEED", "MTU", "NUMA", "PCI", "RDMA", "ADDRESSES")
        for interface in interfaces {
            table.add([
                interface.name, interface.kind.rawValue, interface.state ?? "-",
                interface.speedMbps.map { $0 >= 1000 ? "\($0 / 1000) Gb/s" : "\($0) Mb/s" } ?? "-",
                interface.mtu.map(String.init) ?? "-", interface.numaNode.map(String.init) ?? "-",
                interface.pciAddress ?? "virtual", interface.rdmaDevice ?? "-",
                interface.addresses.isEmpty ? "-" : interface.addresses.joined(separator: " "),
            ])
        }
        return table.lines(style: style)
    }

    private func rdmaDevices(_ devices: [RDMADevice]) -> [String] {
        guard !devices.isEmpty else { return ["  none: KV moves over TCP"] }
        var table = TextTable("DEVICE", "PORT", "STATE", "LINK", "MTU", "RATE", "GIDS", "NETDEV", "NUMA", "PCI")
        for device in devices {
            if device.ports.isEmpty {
                table.add([
                    device.name, "-", "not recorded", "-", "-", "-", "-", "-", numa(device.numaNode),
                    device.pciAddress ?? "-",
                ])
            }
            for port in device.ports {
                let state = port.state == .active ? style.green(port.state.rawValue) : style.red(port.state.rawValue)
                let v2 = port.gids.filter { $0.kind == .roceV2 }.count
                table.add([
                    device.name, String(port.number), state, port.linkLayer.rawValue,
                    port.activeMTU.map { mtu in "\(mtu)" + (port.maxMTU.map { $0 > mtu ? "/\($0)" : "" } ?? "") }
                        ?? "-",
                    port.rateGbps.map { "\(Self.number($0)) Gb/s" + (port.width.map { " (\($0)x)" } ?? "") } ?? "-",
                    port.gids.isEmpty ? "-" : "\(port.gids.count)" + (port.linkLayer == .ethernet ? " (\(v2) v2)" : ""),
                    port.netdev ?? "-", numa(device.numaNode), device.pciAddress ?? "-",
                ])
            }
        }
        return table.lines(style: style)
    }

    private func ucx(_ ucx: UCXView?) -> [String] {
        guard let ucx else { return ["  not recorded"] }
        if let error = ucx.error { return ["  unavailable: \(error)"] }
        var lines = ucx.transports.map { transport in
            let devices = ucx.resources.filter { $0.transport == transport }.map(\.device)
            return "  \(transport): \(devices.joined(separator: ", "))"
        }
        lines.append("  memory types: \(ucx.memoryTypes.isEmpty ? "-" : ucx.memoryTypes.joined(separator: ", "))")
        for (name, value) in ucx.environment.sorted(by: { $0.key < $1.key }) { lines.append("  \(name)=\(value)") }
        return lines
    }

    private func gpus(_ gpus: [GPU]) -> [String] {
        guard !gpus.isEmpty else { return ["  none"] }
        var table = TextTable("GPU", "VENDOR", "MODEL", "NUMA", "PCI", "DEVICES")
        for gpu in gpus {
            table.add([
                gpu.name, gpu.vendor.rawValue, gpu.model ?? "-", numa(gpu.numaNode), gpu.pciAddress,
                gpu.osDevices.isEmpty ? "-" : gpu.osDevices.joined(separator: ", "),
            ])
        }
        return table.lines(style: style)
    }

    /// A matrix like `nvidia-smi topo -m`: a row per GPU, a column per NIC (RDMA NICs marked `*`).
    private func affinity(_ topology: NodeTopology) -> [String] {
        guard !topology.affinity.isEmpty else { return [topology.gpus.isEmpty ? "  no GPU" : "  no NIC"] }
        var nics: [String] = []
        for entry in topology.affinity where !nics.contains(entry.nic) { nics.append(entry.nic) }
        let rdma = Set(topology.affinity.filter(\.rdma).map(\.nic))
        var table = TextTable(["", "NUMA"] + nics.map { rdma.contains($0) ? "\($0)*" : $0 })
        for gpu in topology.gpus {
            let entries = topology.affinity.filter { $0.gpu == gpu.name }
            let nearest = entries.filter { !rdma.isEmpty ? $0.rdma : true }.map(\.relation).min()
            table.add(
                [gpu.name, numa(gpu.numaNode)]
                    + nics.map { nic in
                        guard let relation = entries.first(where: { $0.nic == nic })?.relation else { return "-" }
                        let text = relation.rawValue
                        guard relation == nearest, rdma.isEmpty || rdma.contains(nic) else { return text }
                        return relation <= .pxb ? style.green(text) : style.yellow(text)
                    })
        }
        let legend =
            "  PIX: same PCIe switch; PXB: several switches; PHB: through the CPU; NODE: across host bridges; SYS: across sockets"
        return table.lines(style: style) + [style.dim(legend + (rdma.isEmpty ? "" : "; * RDMA"))]
    }

    private func memlock(_ memlock: MemlockLimit?) -> [String] {
        guard let memlock else { return ["  memlock: not recorded"] }
        func text(_ bytes: UInt64?) -> String { bytes.map(ByteCountText.text) ?? "unlimited" }
        return ["  memlock: \(text(memlock.currentBytes)) (hard limit \(text(memlock.maximumBytes)))"]
    }

    private func peer(_ peer: PeerReport) -> [String] {
        guard peer.reachable, let remote = peer.remote else {
            return ["  " + style.red("unreachable: \(peer.error ?? "no answer")")]
        }
        var lines = ["  host: \(remote.host); reached in \(String(format: "%.2f", peer.connectMilliseconds ?? 0)) ms"]
        if let worker = peer.remoteWorker {
            lines.append("  worker: \(worker.id) (\(worker.role), \(worker.model), --transport \(worker.transport))")
        } else {
            lines.append("  served by: handoff bench serve")
        }
        if let rtt = peer.roundTrips {
            lines.append(
                "  round trip: min \(Self.micro(rtt.min)), median \(Self.micro(rtt.median)), max \(Self.micro(rtt.max)) over \(rtt.count)"
            )
        }
        let interfaces = [peer.localInterface.map { "here \($0)" }, peer.remoteInterface.map { "there \($0)" }]
            .compactMap { $0 }
        if !interfaces.isEmpty { lines.append("  interfaces: \(interfaces.joined(separator: ", "))") }
        if let route = peer.rdmaRoute {
            lines.append("  RDMA route here: \(route.device) port \(route.port)")
        } else if let error = peer.rdmaRouteError {
            lines.append("  RDMA route here: " + style.yellow(error.description))
        }
        let rdma = remote.rdmaDevices.map { "\($0.name) (\($0.hasActivePort ? "active" : "no active port"))" }
        lines.append("  peer RDMA devices: \(rdma.isEmpty ? "none" : rdma.joined(separator: ", "))")
        lines.append("  peer UCX transports: \(remote.ucx.map { $0.transports.joined(separator: ", ") } ?? "unknown")")
        if let probe = peer.probe, probe.kind == .tcpStream {
            lines.append(
                "  probe: \(probe.bytes >> 20) MiB streamed on the worker's native TCP port at \(String(format: "%.2f", probe.gbps)) GB/s "
                    + style.dim("(the TCP path; not KV, not UCX)"))
        } else if let probe = peer.probe {
            let lanes = probe.ucxTransports.isEmpty ? "" : " (\(probe.ucxTransports.joined(separator: ", ")))"
            lines.append(
                "  probe: \(probe.bytes >> 20) MiB over \(probe.transport)\(lanes) at \(String(format: "%.2f", probe.gbps)) GB/s, "
                    + (probe.verified ? "verified" : style.red("NOT verified")))
        } else if let error = peer.probeError {
            lines.append("  probe: " + style.red("failed: \(error)"))
        }
        let remoteProblems = peer.remoteFindings.filter { $0.severity != .info }.map {
            "\($0.severity.rawValue) \($0.code.rawValue)"
        }
        lines.append(
            "  peer's own findings: \(remoteProblems.isEmpty ? "none above info" : remoteProblems.joined(separator: ", "))"
        )
        return lines
    }

    private static func micro(_ value: Double) -> String { String(format: "%.0f µs", value) }

    private func numa(_ node: Int?) -> String { node.map(String.init) ?? "-" }

    private static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
