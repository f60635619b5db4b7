/// Findings about the workers registered with a coordinator: who is lost, who can only use TCP or only be
/// reached on loopback, which models lack a role, and which prefill/decode pairs the coordinator may form that
/// no transport can serve.
public struct ClusterAnalysis: Sendable {
    /// Pairs named in one no-common-transport finding before the rest are counted.
    static let pairsNamed = 4

    public init() {}

    /// The findings for `workers`, errors first.
    public func findings(for workers: [ClusterWorker]) -> [Finding] {
        guard !workers.isEmpty else {
            return [
                Finding(
                    .warning, .noWorkers,
                    message: "No worker is registered with the coordinator: no request can be admitted.",
                    advice:
                        "Start prefill and decode workers with --coordinator naming this coordinator and the same token."
                )
            ]
        }
        let live = workers.filter(\.live)
        let known = live.filter { !$0.offers.isEmpty }
        var findings = workers.filter { !$0.live }.map(lost)
        findings += offersUnknown(live.filter(\.offers.isEmpty))
        findings += known.compactMap(tcpOnly)
        findings += known.compactMap { loopbackOnly($0, among: live) }
        let layouts = Dictionary(grouping: live, by: \.compatibility)
        for group in layouts.sorted(by: { $0.key < $1.key }).map(\.value) {
            findings += roleMissing(group, layouts: Array(layouts.values))
            findings += noCommonTransport(group.filter { !$0.offers.isEmpty })
        }
        return Finding.bySeverity(findings)
    }

    private func lost(_ worker: ClusterWorker) -> Finding {
        Finding(
            worker.lostGracefully ? .info : .warning, .workerLost, subject: worker.id,
            message: "\(worker.id) (\(worker.role), node \(label(worker.node))) is lost"
                + (worker.lostReason.isEmpty ? "" : " (\(worker.lostReason))")
                + ": the coordinator no longer pairs it, and its tickets in flight were re-paired or failed.",
            advice: worker.lostGracefully
                ? "Nothing to do if it was shut down on purpose; a restarted worker registers again as a new instance."
                : "Check the worker's process and its logs; a restarted worker registers again as a new instance.")
    }

    private func offersUnknown(_ workers: [ClusterWorker]) -> [Finding] {
        guard !workers.isEmpty else { return [] }
        return [
            Finding(
                .warning, .offersUnknown,
                message:
                    "The coordinator does not say what \(workers.count) live worker(s) offer (\(workers.prefix(3).map(\.id).joined(separator: ", "))"
                    + "\(workers.count > 3 ? ", …" : "")): their transports and endpoints are not checked.",
                advice: "Run the same handoff version for the coordinator and this command.")
        ]
    }

    private func tcpOnly(_ worker: ClusterWorker) -> Finding? {
        guard !worker.offeredTransports.contains("ucx") else { return nil }
        let why =
            worker.transport == "tcp"
            ? "it runs --transport tcp"
            : "UCX did not start on it, so its \(worker.transport) data plane offers only TCP"
        return Finding(
            .warning, .workerTCPOnly, subject: worker.id,
            message:
                "KV to and from \(worker.id) moves over handoff's native TCP only, never RDMA or shared memory: \(why).",
            advice: worker.transport == "tcp"
                ? "Run it with --transport auto (the default) where UCX is installed."
                : "Run 'handoff topo' on \(label(worker.node)) and fix its UCX findings (libucx, UCX_TLS), then restart the worker."
        )
    }

    /// A worker reachable over TCP only on loopback: an error when peers on other hosts may be paired with it and
    /// it offers no UCX, a warning with UCX (the fallback cannot reach it), information when its peers share its
    /// host (they reach it only from its own network namespace, which separate pods do not share).
    private func loopbackOnly(_ worker: ClusterWorker, among live: [ClusterWorker]) -> Finding? {
        let endpoints = worker.tcpEndpoints
        guard !endpoints.isEmpty, endpoints.allSatisfy(Self.isLoopback) else { return nil }
        let peers = live.filter { $0.compatibility == worker.compatibility && $0.role != worker.role }
        guard !peers.isEmpty else { return nil }
        let remote = peers.filter { $0.hostIdentity == nil || $0.hostIdentity != worker.hostIdentity }
        let hasUCX = worker.offeredTransports.contains("ucx")
        let listed = endpoints.joined(separator: ", ")
        let advice = "Start it with --tcp-listen naming an address its peers can reach, or 0.0.0.0."
        guard let example = remote.first else {
            return Finding(
                .info, .workerLoopbackOnly, subject: worker.id,
                message:
                    "\(worker.id) advertises only loopback TCP endpoints (\(listed)): its \(peers.count) peer(s) on this "
                    + "host reach it over TCP only from its own network namespace, not from other pods or namespaces.",
                advice: advice)
        }
        return Finding(
            hasUCX ? .warning : .error, .workerLoopbackOnly, subject: worker.id,
            message:
                "\(worker.id) advertises only loopback TCP endpoints (\(listed)), yet \(remote.count) peer(s) on other "
                + "hosts (\(example.id) on \(label(example.node))) may be paired with it: "
                + (hasUCX
                    ? "where UCX fails between them, the TCP fallback cannot reach it." : "they cannot reach its KV."),
            advice: advice)
    }

    /// A layout with live workers of one role only. An error when no layout of the model has both roles (its
    /// requests cannot be admitted); a warning when another layout does (these workers are never paired).
    private func roleMissing(_ group: [ClusterWorker], layouts: [[ClusterWorker]]) -> [Finding] {
        let prefill = group.filter { $0.role == "prefill" }.count
        let decode = group.filter { $0.role == "decode" }.count
        guard prefill == 0 || decode == 0, let first = group.first else { return [] }
        let (present, missing) = prefill == 0 ? ("decode", "prefill") : ("prefill", "decode")
        let servedElsewhere = layouts.contains { layout in
            layout.first?.model == first.model && Set(layout.map(\.role)).isSuperset(of: ["prefill", "decode"])
        }
        let layout = "\(first.model) (layout \(first.compatibility.prefix(12)))"
        return [
            servedElsewhere
                ? Finding(
                    .warning, .roleMissing, subject: first.model,
                    message:
                        "\(layout) has \(group.count) live \(present) worker(s) and no \(missing) worker of the same "
                        + "layout: they are never paired, while another layout of \(first.model) serves its requests.",
                    advice:
                        "Give them the block size, arrangement and dtype of the other \(first.model) workers, or start a "
                        + "\(missing) worker of their layout.")
                : Finding(
                    .error, .roleMissing, subject: first.model,
                    message:
                        "\(layout) has \(group.count) live \(present) worker(s) and no live \(missing) worker of the same "
                        + "layout: requests for \(first.model) cannot be admitted.",
                    advice:
                        "Start a \(missing) worker for \(first.model) with the same block size, arrangement and dtype, "
                        + "or check why the registered ones were lost.")
        ]
    }

    private func noCommonTransport(_ group: [ClusterWorker]) -> [Finding] {
        var broken: [(prefill: ClusterWorker, decode: ClusterWorker)] = []
        for prefill in group where prefill.role == "prefill" {
            for decode in group
            where decode.role == "decode" && prefill.offeredTransports.isDisjoint(with: decode.offeredTransports) {
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
                    + named.joined(separator: "; ") + more
                    + ". The coordinator may pair them, and their transfers fail.",
                advice: "Run every worker with --transport auto (it offers UCX and TCP), or one transport everywhere.")
        ]
    }

    private func offersText(_ worker: ClusterWorker) -> String {
        worker.offers.map(\.transport).joined(separator: ", ")
    }

    private func label(_ node: String) -> String { node.isEmpty ? "unlabelled" : node }

    /// Whether an IPv4 `host:port` endpoint is on 127.0.0.0/8.
    static func isLoopback(_ endpoint: String) -> Bool { endpoint.hasPrefix("127.") }
}
