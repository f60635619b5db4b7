/// The worker behind a probed data-plane port, as it describes itself in its probe answer.
public struct ProbedWorker: Codable, Sendable, Equatable {
    public var id: String
    /// `prefill` or `decode`.
    public var role: String
    public var model: String
    /// Its data plane: `auto`, `ucx` or `tcp`.
    public var transport: String

    public init(id: String, role: String, model: String, transport: String) {
        self.id = id
        self.role = role
        self.model = model
        self.transport = transport
    }
}
