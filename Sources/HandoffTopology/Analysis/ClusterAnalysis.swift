/// Findings about the workers registered with a coordinator: who is lost, who can only use TCP, which models
/// lack a role, and which prefill/decode pairs the coordinator may form that no transport can serve.
public struct ClusterAnalysis: Sendable {
    /// Pairs named in one no-common-transport finding before the rest are counted.
    static let pairsNamed = 4

    public init() {}

    public func findings(for workers: [ClusterWorker]) -> [Finding] {
        guard !workers.isEmpty else {
            return [
                Finding(
                    .warning, .noWorkers, message: "No worker is registered with the coordinator: no request can be admitted.",
                    advice: "Start prefill and decode workers with --coordinator naming this coordinator and the same token.")
            ]
        }
        let live = workers.filter(\.live)
        var findings = workers.filter { !$0.live }.map(lost)
        findings += workers.compactMap(unreadableDescriptor)
        findings += live.filter { $0.descriptorError == nil }.compactMap(tcpOnly)
        findings += live.compactMap { loopbackOnly($0, among: live) }
        for group in Dictionary(grouping: live, by: \.compatibility).sorted(by: { $0.key < $1.key }).map(\.value) {
            findings += roleMissing(group)
            findings += noCommonTransport(group)
        }
        return Finding.bySeverity(findings)
    }

    private func lost(_ worker: ClusterWorker) -> Finding {
        Finding(
            .warning, .workerLost, subject: worker.id,
            message: "\(worker.id) (\(worker.role), node \(label(worker.node))) is lost"
                + (worker.lostReason.isEmpty ? "" : " (\(worker.lostReason))")
                + ": the coordinator no longer pairs it, and its tickets in flight were re-paired or failed.",
            advice: "Check the worker's process and its logs; a restarted worker registers again as a new instance.")
    }

    private func unreadableDescriptor(_ worker: ClusterWorker) -> Finding? {
        guard let error = worker.descriptorError else { return nil }
        return Finding(
            .error, .workerDescriptorInvalid, subject: worker.id,
            message: "\(worker.id)'s registered pool descriptor cannot be read here: \(error). Peers of another "
                + "handoff version may not reach its KV either.",
            advice: "Run one handoff version on every worker and on this machine.")
    }

    private func tcpOnly(_ worker: ClusterWorker) -> Finding? {
        guard !worker.offeredTransports.contains("ucx") else { return nil }
        let why =
            worker.transport == "tcp"
            ? "it runs --transport tcp" : "UCX did not start on it, so its \(worker.transport) data plane offers only TCP"
        return Finding(
            .warning, .workerTCPOnly, subject: worker.id,
            message: "KV to and from \(worker.id) moves over handoff's native TCP only, never RDMA or shared memory: \(why).",
            advice: worker.transport == "tcp"
                ? "Run it with --transport auto (the default) where UCX is installed."
                : "Run 'handoff topo' on \(label(worker.node)) and fix its UCX findings (libucx, UCX_TLS), then restart the worker.")
    }

    private func loopbackOnly(_ worker: ClusterWorker, among live: [ClusterWorker]) -> Finding? {
        let endpoints = worker.tcpEndpoints
        guard !endpoints.isEmpty, endpoints.allSatisfy(Self.isLoopback) else { return nil }
        let remotePeers = live.filter { peer in
            peer.compatibility == worker.compatibility && peer.role != worker.role && peer.host != worker.host
        }
        guard let example = remotePeers.first else { return nil }
        let hasUCX = worker.offeredTransports.contains("ucx")
        return Finding(
            hasUCX ? .warning : .error, .workerLoopbackOnly, subject: worker.id,
            message: "\(worker.id) advertises only loopback TCP endpoints (\(endpoints.joined(separator: ", "))), yet "
                + "\(remotePeers.count) peer(s) on other hosts (\(example.id) on \(label(example.node))) may be paired with it: "
                + (hasUCX ? "if UCX fails between them, the TCP fallback cannot reach it." : "they cannot reach its KV."),
            advice: "Start it with --tcp-listen naming an address its peers can reach, or 0.0.0.0.")
    }

    private func roleMissing(_ group: [ClusterWorker]) -> [Finding] {
        let prefill = group.filter { $0.role == "prefill" }.count
        let decode = group.count - prefill
        guard prefill == 0 || decode == 0, let first = group.first else { return [] }
        let (present, missing) = prefill == 0 ? ("decode", "prefill") : ("prefill", "decode")
        return [
            Finding(
                .error, .roleMissing, subject: first.model,
                message: "\(first.model) (layout \(first.compatibility.prefix(12))) has \(group.count) live \(present) "
                    + "worker(s) and no live \(missing) worker of the same layout: its requests cannot be admitted.",
                advice: "Start a \(missing) worker for \(first.model) with the same block size, arrangement and dtype, "
                    + "or check why the registered ones were lost.")
        ]
    }

    private func noCommonTransport(_ group: [ClusterWorker]) -> [Finding] {
        let readable = group.filter { $0.descriptorError == nil }
        var broken: [(prefill: ClusterWorker, decode: ClusterWorker)] = []
        for prefill in readable where prefill.role == "prefill" {
            for decode in readable where decode.role == "decode" && prefill.offeredTransports.isDisjoint(with: decode.offeredTransports) {
                broken.append((prefill, decode))
            }
        }
        guard let first = broken.first else { return [] }
        let named = broken.prefix(Self.pairsNamed).map { pair in
            "\(pair.prefill.id) (\(offersText(pair.prefill))) and \(pair.decode.id) (\(offersText(pair.decode)))"
        }
        let more = broken.count > Self.pairsNamed ? " and \(broken.count - Self.pairsNamed) more" : ""
        return [
            Finding(
                .error, .noCommonTransport, subject: first.prefill.model,
                message: "\(broken.count) prefill/decode pair(s) of \(first.prefill.model) share no transport: "
                    + named.joined(separator: "; ") + more + ". The coordinator may pair them, and their transfers fail.",
                advice: "Run every worker with --transport auto (it offers UCX and TCP), or one transport everywhere.")
        ]
    }

    private func offersText(_ worker: ClusterWorker) -> String {
        worker.offers.isEmpty ? "no offer" : worker.offers.map(\.transport).joined(separator: ", ")
    }

    private func label(_ node: String) -> String { node.isEmpty ? "unlabelled" : node }

    /// Whether a `host:port` endpoint is on 127.0.0.0/8 or `localhost`.
    static func isLoopback(_ endpoint: String) -> Bool {
        let host = endpoint.split(separator: ":").first.map(String.init) ?? endpoint
        return host.hasPrefix("127.") || host == "localhost"
    }
}
