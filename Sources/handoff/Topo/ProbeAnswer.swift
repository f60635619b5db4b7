import Foundation
import HandoffTopology

/// What this node answers a `handoff topo --peer` probe with: its live topology and findings, and the worker
/// it runs, if any, as one line of JSON.
enum ProbeAnswer {
    static func json(worker: ProbedWorker? = nil) -> String {
        let topology = TopologyDiscovery.live()
        let report = TopologyReport(topology: topology, findings: TopologyAnalysis().findings(for: topology), worker: worker)
        guard let data = try? JSONEncoder().encode(report) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
