/// Which side of prefill/decode disaggregation a worker serves.
public enum WorkerRole: String, Sendable, Hashable, Codable, CaseIterable {
    /// Runs the prompt and holds its KV blocks until decode has pulled them.
    case prefill
    /// Pulls a request's KV from a prefill worker, then generates tokens.
    case decode

    /// The role that pairs with this one.
    public var counterpart: WorkerRole { self == .prefill ? .decode : .prefill }
}
