/// What `handoff topo --coordinator` reports: the workers registered with a coordinator, and the findings drawn
/// from how they can reach each other.
public struct ClusterReport: Codable, Sendable, Equatable {
    /// The coordinator's `HOST:PORT`.
    public var coordinator: String
    /// Every worker instance the coordinator knows, live or lost.
    public var workers: [ClusterWorker]
    /// What stands in the way of KV transfer between them, errors first.
    public var findings: [Finding]

    public init(coordinator: String, workers: [ClusterWorker], findings: [Finding]) {
        self.coordinator = coordinator
        self.workers = workers
        self.findings = findings
    }

    /// Whether a finding is an error: some requests cannot be served as the cluster stands.
    public var hasErrors: Bool { findings.contains { $0.severity == .error } }
}
