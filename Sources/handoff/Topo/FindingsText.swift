import HandoffCore
import HandoffTopology

/// Findings as text, one per line with its advice below: the last section of every `handoff topo` report.
struct FindingsText {
    let style: TerminalStyle

    func lines(_ findings: [Finding]) -> [String] {
        guard !findings.isEmpty else { return ["  " + style.green("none: nothing stands in KV transfer's way")] }
        return findings.flatMap { finding in
            let label: String =
                switch finding.severity {
                case .error: style.red("ERROR  ")
                case .warning: style.yellow("WARNING")
                case .info: "INFO   "
                }
            return [
                "  \(label) \(style.bold(finding.code.rawValue))  \(finding.message)",
                style.dim("          → \(finding.advice)"),
            ]
        }
    }
}
