/// The worker behind a probed data-plane port, as it describes itself in its probe answer.
public struct ProbedWorker: Codable, Sendable, Equatable {
    /// Its worker id.
    public var id: String
    /// `prefill` or `decode`.
    public var role: String
    /// The model preset of its KV layout.
    public var model: String
    /// The data plane it was started with: `auto`, `ucx` or `tcp`.
    public var transport: String
    /// What its pool descriptor offers (`ucx`, `tcp`): `auto` without `ucx` means UCX did not start there.
    public var offers: [String]

    public init(id: String, role: String, model: String, transport: String, offers: [String]) {
        self.id = id
        self.role = role
        self.model = model
        self.transport = transport
        self.offers = offers
    }
}
