import HandoffControlProtocol

/// What to do when a request's KV cannot be loaded on the decode side (transfer failed, stalled, or a worker lost).
public enum LoadFailurePolicy: String, Sendable, Hashable, CaseIterable {
    /// Fail the request with the reason.
    case fail
    /// Prefill again, on another prefill worker when there is one.
    case recompute
}
