import HandoffCore
import HandoffTopology

/// `handoff topo --coordinator`'s report as text: the registered workers, then the findings.
struct ClusterText {
    let report: ClusterReport
    let style: TerminalStyle

    func lines() -> [String] {
        let live = report.workers.filter(\.live).count
        var lines = [
            style.bold("handoff topo: coordinator \(report.coordinator)")
                + style.dim(" (\(report.workers.count) workers registered, \(live) live)"), "",
        ]
        lines += [style.bold("Workers")] + workers() + [""]
        lines += [style.bold("Findings")] + FindingsText(style: style).lines(report.findings)
        return lines
    }

    private func workers() -> [String] {
        guard !report.workers.isEmpty else { return ["  none"] }
        var table = TextTable(
            "WORKER", "ROLE", "MODEL", "NODE", "RACK", "STATE", "FREE", "QUEUE", "MEMORY", "DATA PLANE")
        for worker in report.workers {
            let state = worker.live ? style.green("live") : style.red("lost")
            table.add([
                worker.id, worker.role, worker.model, worker.node.isEmpty ? "-" : worker.node,
                worker.rack.isEmpty ? "-" : worker.rack,
                state, "\(worker.freeBlocks)/\(worker.numBlocks)", String(worker.queueDepth), worker.memoryType ?? "-",
                dataPlane(worker),
            ])
        }
        return table.lines(style: style)
    }

    /// `auto: ucx, tcp 10.0.0.5:40123`.
    private func dataPlane(_ worker: ClusterWorker) -> String {
        guard !worker.offers.isEmpty else { return "\(worker.transport): " + style.dim("offers not listed") }
        let offers = worker.offers.map { offer in
            offer.endpoints.isEmpty ? offer.transport : "\(offer.transport) \(offer.endpoints.joined(separator: " "))"
        }
        return "\(worker.transport): " + offers.joined(separator: ", ")
    }
}
