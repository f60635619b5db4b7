/// What `handoff topo` reports: a node's topology and the findings drawn from it. Encoded as one JSON object with
/// the topology's keys and `findings`.
public struct TopologyReport: Encodable, Sendable {
    public var topology: NodeTopology
    public var findings: [Finding]

    public init(topology: NodeTopology, findings: [Finding]) {
        self.topology = topology
        self.findings = findings
    }

    /// Whether a finding is an error: the node is not fit for KV transfer as deployed.
    public var hasErrors: Bool { findings.contains { $0.severity == .error } }

    private enum CodingKeys: String, CodingKey {
        case findings
    }

    public func encode(to encoder: any Encoder) throws {
        try topology.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(findings, forKey: .findings)
    }
}
