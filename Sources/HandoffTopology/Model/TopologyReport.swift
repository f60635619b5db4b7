/// What `handoff topo` reports: a node's topology and the findings drawn from it. Encoded as one JSON object with
/// the topology's keys and `findings`.
public struct TopologyReport: Encodable, Sendable {
    public var topology: NodeTopology
    public var findings: [Finding]
    /// What `--peer` learned, when given.
    public var peer: PeerReport?
    /// The worker that answers with this report, in a probe answer from a worker's data-plane port.
    public var worker: ProbedWorker?

    public init(topology: NodeTopology, findings: [Finding], peer: PeerReport? = nil, worker: ProbedWorker? = nil) {
        self.topology = topology
        self.findings = findings
        self.peer = peer
        self.worker = worker
    }

    /// Whether a finding is an error: the node is not fit for KV transfer as deployed.
    public var hasErrors: Bool { findings.contains { $0.severity == .error } }

    private enum CodingKeys: String, CodingKey {
        case findings, peer, worker
    }

    public func encode(to encoder: any Encoder) throws {
        try topology.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(findings, forKey: .findings)
        try container.encodeIfPresent(peer, forKey: .peer)
        try container.encodeIfPresent(worker, forKey: .worker)
    }
}
