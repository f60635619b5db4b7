import Foundation
import HandoffCore
import HandoffTopology
import Synchronization

/// What this node answers a `handoff topo --peer` probe with: its live topology and findings, and the worker it
/// runs, if any, as one line of JSON. Discovery (hwloc, libibverbs, UCT) is not cheap and a worker's port
/// answers anyone, so the answer is made at most once per `lifetime`.
final class ProbeAnswer: Sendable {
    private let worker: ProbedWorker?
    private let lifetime: Duration
    private let cached = Mutex<(text: String, made: ContinuousClock.Instant)?>(nil)

    init(worker: ProbedWorker? = nil, lifetime: Duration = .seconds(30)) {
        self.worker = worker
        self.lifetime = lifetime
    }

    /// The answer; nil when the report cannot be encoded.
    func text() -> String? {
        if let cached = cached.withLock({ $0 }), ContinuousClock.now - cached.made < lifetime { return cached.text }
        let topology = TopologyDiscovery.live()
        let report = TopologyReport(
            topology: topology, findings: TopologyAnalysis().findings(for: topology), worker: worker)
        guard let data = try? JSONEncoder().encode(report) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        cached.withLock { $0 = (text, ContinuousClock.now) }
        return text
    }
}
