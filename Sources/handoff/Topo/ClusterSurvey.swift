import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import HandoffTopology

/// `handoff topo --coordinator`: reads the workers a coordinator has registered (ListWorkers) and what each
/// one's data plane offers, and draws the cluster's findings.
struct ClusterSurvey {
    let address: CoordinatorAddress
    /// How long the coordinator may take to answer.
    var timeout: Duration = .seconds(10)

    func run() async throws -> ClusterReport {
        var options = CallOptions.defaults
        options.timeout = timeout
        let infos = try await withLeaderCoordinatorClient(address) { client in
            try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options).workers
        }
        let workers = infos.map(Self.worker).sorted { ($0.model, $0.role, $0.id) < ($1.model, $1.role, $1.id) }
        return ClusterReport(
            coordinator: address.description, workers: workers, findings: ClusterAnalysis().findings(for: workers))
    }

    /// One registered worker, as the coordinator lists it.
    static func worker(_ info: Handoff_V1_WorkerInfo) -> ClusterWorker {
        let role =
            switch info.role {
            case .prefill: "prefill"
            case .decode: "decode"
            default: "unknown"
            }
        return ClusterWorker(
            id: info.workerID, role: role, model: info.model, compatibility: info.compatibility, node: info.node,
            rack: info.rack,
            live: info.state == "live", lostReason: info.lostReason, lostGracefully: info.lostGracefully,
            secondsSinceHeartbeat: info.secondsSinceHeartbeat, freeBlocks: Int(info.freeBlocks),
            numBlocks: Int(info.numBlocks),
            queueDepth: Int(info.queueDepth), transport: info.transports.first ?? "unknown",
            offers: info.offers.map { ClusterWorker.Offer(transport: $0.transport, endpoints: $0.endpoints) },
            hostIdentity: info.hostIdentity.isEmpty ? nil : info.hostIdentity,
            memoryType: info.memoryType.isEmpty ? nil : info.memoryType)
    }
}
