/// UCX: usable at all, with the transports the hardware needs, not narrowed away from them.
extension TopologyAnalysis {
    func ucxFindings(_ topology: NodeTopology) -> [Finding] {
        guard let ucx = topology.ucx else { return [] }
        if ucx.error != nil || ucx.resources.isEmpty {
            return [
                Finding(
                    .warning, .ucxUnavailable,
                    message: "UCX cannot be used here (\(ucx.error ?? "it lists no transport")): workers move KV over "
                        + "handoff's native TCP.",
                    advice: "Install UCX (libucx0, 'ucx_info -d' lists its transports) or run --transport tcp.")
            ]
        }
        var findings: [Finding] = []
        let usable = usableRDMADevices(topology)
        for device in usable where !ucx.hasRDMATransport(on: device.name) {
            findings.append(
                Finding(
                    .error, .ucxMissingTransport, subject: device.name,
                    message: "UCX has no InfiniBand/RoCE transport on \(device.name): KV would go over UCX's tcp "
                        + "transport or handoff's native TCP, not RDMA.",
                    advice: "Install a UCX built with verbs (Debian's libucx0 has libuct_ib; MLNX_OFED's ucx has "
                        + "rc_mlx5/dc_mlx5) and check 'ucx_info -d | grep \(device.name)'."))
        }
        if !usable.isEmpty { findings += restrictions(ucx, devices: usable) }
        let vendors = Set(topology.gpus.map(\.vendor))
        if vendors.contains(.nvidia) && !ucx.memoryTypes.contains("cuda") {
            findings.append(
                missingGPUMemory("CUDA", transports: "cuda_copy, cuda_ipc, gdr_copy", package: "a CUDA-enabled UCX"))
        }
        if vendors.contains(.amd) && !ucx.memoryTypes.contains("rocm") {
            findings.append(missingGPUMemory("ROCm", transports: "rocm_copy, rocm_ipc", package: "a ROCm-enabled UCX"))
        }
        return findings
    }

    /// `UCX_TLS` or `UCX_NET_DEVICES` set so that the RDMA devices are left out.
    private func restrictions(_ ucx: UCXView, devices: [RDMADevice]) -> [Finding] {
        var findings: [Finding] = []
        if let tls = ucx.environment["UCX_TLS"], !Self.allowsRDMA(tls) {
            findings.append(
                Finding(
                    .error, .ucxRestricted,
                    message: "UCX_TLS=\(tls) leaves out UCX's RDMA transports: KV goes over TCP although "
                        + "\(devices.map(\.name).joined(separator: ", ")) \(devices.count == 1 ? "is" : "are") active.",
                    advice: "Unset UCX_TLS or include rc (and ud, dc), e.g. UCX_TLS=rc,ud,sm,self."))
        }
        if let list = ucx.environment["UCX_NET_DEVICES"], list != "all" {
            let named = list.split(separator: ",").map { String($0.split(separator: ":")[0]) }
            if !devices.contains(where: { named.contains($0.name) }) {
                findings.append(
                    Finding(
                        .error, .ucxRestricted,
                        message: "UCX_NET_DEVICES=\(list) names none of the active RDMA devices "
                            + "(\(devices.map(\.name).joined(separator: ", "))): UCX moves KV over TCP.",
                        advice: "Name the GPU's nearest RDMA port, e.g. UCX_NET_DEVICES=\(devices[0].name):1."))
            }
        }
        return findings
    }

    /// Whether a `UCX_TLS` value lets UCX use an InfiniBand/RoCE transport.
    static func allowsRDMA(_ tls: String) -> Bool {
        let names = tls.split(separator: ",").map { $0.trimmingPrefix("^") }.map(String.init)
        let rdmaNames = names.filter { $0 == "ib" || UCXView.isRDMATransport($0) }
        if tls.hasPrefix("^") { return rdmaNames.isEmpty }
        return names.contains("all") || !rdmaNames.isEmpty
    }

    private func missingGPUMemory(_ kind: String, transports: String, package: String) -> Finding {
        Finding(
            .warning, .ucxMissingTransport,
            message: "UCX here cannot register \(kind) memory (no \(transports)): a KV pool in GPU memory cannot be "
                + "moved by UCX directly and must be staged through host memory.",
            advice: "Install \(package) (Debian's UCX is built without GPU support) and check 'ucx_info -d'.")
    }
}
