/// GPU ↔ NIC placement: each GPU's nearest NIC, and NICs that serve GPUs on other NUMA nodes only.
extension TopologyAnalysis {
    func affinityFindings(_ topology: NodeTopology) -> [Finding] {
        guard !topology.gpus.isEmpty else { return [] }
        guard !topology.affinity.isEmpty else {
            return [
                Finding(
                    .warning, .noNIC,
                    message: "\(topology.gpus.count) GPU(s) but no NIC on the PCI bus: KV can leave this node only "
                        + "through a virtual interface, if at all.",
                    advice: "Check that the NICs' drivers are loaded; a recorded topology may simply not hold them "
                        + "(hwloc keeps network devices only when asked for I/O objects).")
            ]
        }
        let candidates = kvCarriers(topology)
        var findings: [Finding] = []
        var served: [String: [AffinityEntry]] = [:]
        for gpu in topology.gpus {
            let entries = candidates.filter { $0.gpu == gpu.name }
            guard let nearest = entries.map(\.relation).min() else { continue }
            let nearestNICs = entries.filter { $0.relation == nearest }
            for entry in nearestNICs { served[entry.nic, default: []].append(entry) }
            if nearest >= .phb {
                let nearerButDown = topology.affinity.filter { $0.gpu == gpu.name && $0.rdma && $0.relation < nearest }
                findings.append(distantNIC(gpu, nearest: nearestNICs, relation: nearest, nearerButDown: nearerButDown))
            }
        }
        for (nic, entries) in served.sorted(by: { $0.key < $1.key }) {
            guard let nicNode = entries[0].nicNUMANode else { continue }
            let gpuNodes = Set(entries.compactMap(\.gpuNUMANode))
            guard !gpuNodes.isEmpty, !gpuNodes.contains(nicNode) else { continue }
            let gpus = entries.map(\.gpu).joined(separator: ", ")
            findings.append(
                Finding(
                    .warning, .nicNUMARemote, subject: nic,
                    message: "\(nic) is on NUMA node \(nicNode) but the GPUs it is nearest to (\(gpus)) are on node(s) "
                        + "\(gpuNodes.sorted().map(String.init).joined(separator: ", ")): every KV byte it carries, "
                        + "and the worker's host-side work for it, crosses the socket interconnect.",
                    advice:
                        "Run the worker that drives \(nic) on NUMA node \(nicNode) (numactl --cpunodebind=\(nicNode) "
                        + "--membind=\(nicNode)), or move the NIC or GPUs so each GPU has a NIC on its own node."))
        }
        return findings
    }

    /// The GPU-NIC entries of the NICs that would carry KV: RDMA NICs with an active port when there are any,
    /// else RDMA NICs, else all NICs.
    private func kvCarriers(_ topology: NodeTopology) -> [AffinityEntry] {
        let rdma = topology.affinity.filter(\.rdma)
        guard !rdma.isEmpty else { return topology.affinity }
        let inactive = Set(topology.rdmaDevices.filter { !$0.ports.isEmpty && !$0.hasActivePort }.map(\.name))
        let usable = rdma.filter { !inactive.contains($0.nic) }
        return usable.isEmpty ? rdma : usable
    }

    private func distantNIC(
        _ gpu: GPU, nearest: [AffinityEntry], relation: PCIRelation, nearerButDown: [AffinityEntry]
    ) -> Finding {
        let names = nearest.map(\.nic).joined(separator: ", ")
        let down = nearerButDown.map { "; \($0.nic), nearer at \($0.relation.rawValue), has no active port" }.joined()
        let message =
            "\(gpu.name)'s nearest \(nearest[0].rdma ? "usable RDMA " : "")NIC (\(names)) is \(relation.rawValue) away "
            + "(\(relation.meaning)\(down))"
        switch relation {
        case .pix, .pxb, .phb:
            return Finding(
                .info, .gpuNICDistant, subject: gpu.name,
                message: message + ": GPUDirect RDMA goes through the CPU's host bridge, often slower than through a "
                    + "PCIe switch, and NCCL's default stops using it beyond PXB.",
                advice: "Prefer servers that put each GPU and its NIC behind one PCIe switch for P/D decode and "
                    + "prefill nodes.")
        case .node, .sys:
            return Finding(
                .warning, .gpuNICDistant, subject: gpu.name,
                message: message + ": GPUDirect RDMA across \(relation == .sys ? "sockets" : "host bridges") runs far "
                    + "below line rate or is disabled, so KV is staged through host memory.",
                advice: "Pair \(gpu.name) with a NIC on its own NUMA node (UCX_NET_DEVICES for its worker), or "
                    + "place a NIC under its PCIe switch.")
        }
    }
}
