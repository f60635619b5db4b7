import GRPCCore
import HandoffControlPlane
import HandoffDataPlane
import HandoffProto
import HandoffTopology

/// `handoff topo --coordinator`: reads the workers a coordinator has registered (ListWorkers) and what each
/// one's pool descriptor offers, and draws the cluster's findings.
struct ClusterSurvey {
    let address: CoordinatorAddress
    /// How long the coordinator may take to answer.
    var timeout: Duration = .seconds(10)

    func run() async throws -> ClusterReport {
        var options = CallOptions.defaults
        options.timeout = timeout
        let infos = try await withCoordinatorClient(address) { client in
            try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options).workers
        }
        let workers = infos.map(Self.worker).sorted { ($0.model, $0.role, $0.id) < ($1.model, $1.role, $1.id) }
        return ClusterReport(coordinator: address.description, workers: workers, findings: ClusterAnalysis().findings(for: workers))
    }

    /// One registered worker, with its descriptor's offers read by this build's data plane.
    static func worker(_ info: Handoff_V1_WorkerInfo) -> ClusterWorker {
        var worker = ClusterWorker(
            id: info.workerID, role: info.role == .prefill ? "prefill" : info.role == .decode ? "decode" : "unknown",
            model: info.model, compatibility: info.compatibility, node: info.node, rack: info.rack, live: info.state == "live",
            lostReason: info.lostReason, secondsSinceHeartbeat: info.secondsSinceHeartbeat, freeBlocks: Int(info.freeBlocks),
            numBlocks: Int(info.numBlocks), queueDepth: Int(info.queueDepth), transport: info.transports.first ?? "unknown",
            offers: [])
        do {
            let descriptor = try PoolDescriptor(decoding: Array(info.descriptor))
            worker.offers = try descriptor.offers().map { ClusterWorker.Offer(transport: $0.transport, endpoints: $0.endpoints) }
            worker.host = descriptor.host
            worker.memoryType = descriptor.memoryType.rawValue
        } catch {
            worker.descriptorError = info.descriptor.isEmpty ? "the coordinator sent no descriptor (an older coordinator)" : "\(error)"
        }
        return worker
    }
}
