/// Findings about the path to a peer: which transport carries KV there and why, and whether the two ends agree.
public struct PeerAnalysis: Sendable {
    public init() {}

    /// The findings about `peer`, probed from the node `local`.
    public func findings(local: NodeTopology, peer: PeerReport) -> [Finding] {
        guard peer.reachable, let remote = peer.remote else {
            let advice =
                peer.refused
                ? "A busy port answers again once its probes end (at most a minute); a port that answers no probes is a "
                    + "data plane embedded without a probe answer: probe 'handoff bench serve' on that host instead."
                : "Check that a worker's native TCP data-plane port ('handoff topo --coordinator' lists them) or "
                    + "'handoff bench serve' listens there, and that the port is open between the two hosts."
            return [
                Finding(
                    .error, .peerUnreachable, subject: peer.address,
                    message: "\(peer.address) could not be probed: \(peer.error ?? "no answer").", advice: advice)
            ]
        }
        return [transportFinding(local: local, remote: remote, peer: peer)] + routeFindings(local: local, peer: peer)
            + mtuFindings(local: local, remote: remote, peer: peer)
    }

    /// This node has a usable RDMA port, but the peer's address is routed through a device that is not RDMA: it
    /// is on another network than the fabric. UCX's RDMA lanes do not depend on it; native TCP to it does.
    private func routeFindings(local: NodeTopology, peer: PeerReport) -> [Finding] {
        guard Self.rdmaReady(local), let error = peer.rdmaRouteError, error.isOffFabric else { return [] }
        return [
            Finding(
                .info, .peerRouteNotRDMA, subject: peer.address,
                message: "\(error.description.prefix(1).uppercased() + error.description.dropFirst())"
                    + "\(peer.localInterface.map { " (the probe left through \($0))" } ?? ""): the peer's address is on another "
                    + "network than this node's RDMA ports. UCX's RDMA lanes do not use it (UCX connects them by the GIDs in its "
                    + "worker address), but handoff's native TCP to this address, the fallback when UCX fails, takes that network.",
                advice:
                    "If workers advertise this address, start them with --tcp-listen on their address on the RDMA network "
                    + "(the RoCE or IPoIB interface), so that a fallback stays on the fast network.")
        ]
    }

    /// Whether a node can put KV on RDMA through UCX: an active RDMA port with a UCX verbs transport on it.
    static func rdmaReady(_ topology: NodeTopology) -> Bool {
        topology.rdmaDevices.contains { device in
            device.hasActivePort && (topology.ucx?.hasRDMATransport(on: device.name) ?? false)
        }
    }

    private func transportFinding(local: NodeTopology, remote: NodeTopology, peer: PeerReport) -> Finding {
        let here = Self.rdmaReady(local)
        let there = Self.rdmaReady(remote)
        let why =
            switch (here, there) {
            case (false, false): "neither side has an active RDMA port with a UCX verbs transport"
            case (false, true): "this node has no active RDMA port with a UCX verbs transport"
            case (true, false): "the peer has no active RDMA port with a UCX verbs transport"
            case (true, true):
                "both sides have RDMA, yet UCX did not use it: they are not on one fabric (subnet, RoCE GID, routing), or UCX_NET_DEVICES names other ports"
            }
        let advice =
            "Run 'handoff topo' on both hosts and fix their RDMA findings; with RDMA on both, UCX picks rc/dc lanes by itself."
        guard let probe = peer.probe, probe.kind == .kvRead else {
            return predictedTransport(
                local: local, remote: remote, peer: peer, rdma: here && there, why: why, advice: advice)
        }
        let rate = String(format: "%.2f GB/s", probe.gbps)
        if probe.usedRDMA || probe.usedSharedMemory {
            let path = probe.usedRDMA ? "RDMA" : "shared memory (the peer is on this host)"
            return Finding(
                .info, .peerTransport, subject: peer.address,
                message:
                    "KV to \(peer.address) moves over UCX \(path): \(probe.ucxTransports.joined(separator: ", ")), at \(rate) in the probe.",
                advice: "Nothing to do.")
        }
        let carried =
            probe.transport == "ucx"
            ? "UCX over \(probe.ucxTransports.joined(separator: ", "))"
            : "handoff's native TCP"
                + (probe.fallbacks.isEmpty
                    ? "" : " (UCX fell back: \(probe.fallbacks.keys.sorted().joined(separator: ", ")))")
        return Finding(
            here && there ? .error : .warning, .peerTransport, subject: peer.address,
            message:
                "KV to \(peer.address) moves over \(carried), not RDMA, at \(rate) in the probe: UCX falls back to TCP because \(why).",
            advice: advice)
    }

    /// Without a KV probe (skipped, failed, or a worker's port): what the two topologies and the worker's data
    /// plane predict.
    private func predictedTransport(
        local: NodeTopology, remote: NodeTopology, peer: PeerReport, rdma: Bool, why: String, advice: String
    ) -> Finding {
        let unmeasured =
            peer.remoteWorker == nil
            ? "Run without --probe-mib 0 to move a short transfer and see its lanes."
            : "Run 'handoff bench serve' on that host and probe it to see UCX's lanes."
        if let worker = peer.remoteWorker, !worker.offers.contains("ucx") {
            let why =
                worker.transport == "tcp"
                ? "the worker runs --transport tcp" : "UCX did not start on the worker, so it offers only TCP"
            return Finding(
                .warning, .peerTransport, subject: peer.address,
                message: "KV to and from \(worker.id) moves over handoff's native TCP: \(why).",
                advice: worker.transport == "tcp"
                    ? "Run it with --transport auto (the default) where UCX is installed."
                    : "Run 'handoff topo' on that host and fix its UCX findings, then restart the worker.")
        }
        if let here = local.bootID, here == remote.bootID,
            local.ucx?.transports.contains(where: Self.sharedMemoryTransports.contains) == true
        {
            return Finding(
                .info, .peerTransport, subject: peer.address,
                message:
                    "The peer is on this host (\(remote.host), same boot id): UCX would move KV through shared memory; "
                    + "not measured here.",
                advice: unmeasured)
        }
        return rdma
            ? Finding(
                .info, .peerTransport, subject: peer.address,
                message: "Both sides have RDMA through UCX; without a KV probe it is not measured whether UCX uses it.",
                advice: unmeasured)
            : Finding(
                .warning, .peerTransport, subject: peer.address,
                message: "UCX would fall back to TCP to \(peer.address): \(why).", advice: advice)
    }

    /// UCX transports that move bytes between processes of one host.
    static let sharedMemoryTransports: Set<String> = ["posix", "sysv", "cma", "xpmem", "knem"]

    private func mtuFindings(local: NodeTopology, remote: NodeTopology, peer: PeerReport) -> [Finding] {
        guard let localName = peer.localInterface, let remoteName = peer.remoteInterface,
            let localMTU = local.interfaces.first(where: { $0.name == localName })?.mtu,
            let remoteMTU = remote.interfaces.first(where: { $0.name == remoteName })?.mtu, localMTU != remoteMTU
        else { return [] }
        return [
            Finding(
                .warning, .mtuMismatch, subject: peer.address,
                message: "This side's \(localName) has an MTU of \(localMTU), the peer's \(remoteName) \(remoteMTU): "
                    + "packets larger than the smaller one are dropped or fragmented on the way.",
                advice: "Set one MTU on both interfaces and every switch port between them.")
        ]
    }
}
