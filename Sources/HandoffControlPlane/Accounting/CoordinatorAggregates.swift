import HandoffControlProtocol

/// Totals and rolling percentiles over everything the coordinator has handled.
public struct CoordinatorAggregates: Sendable, Hashable {
    public var admitted: Int
    public var done: Int
    public var failed: Int
    public var expired: Int
    public var recomputed: Int
    /// Rolling percentiles of each TTFT component, seconds, by name (ttft, queue, prefill, kv_transfer, ...).
    public var components: [String: Percentiles]
    /// Rolling percentiles of coordinator decision time (admission and prefill-done handling), seconds.
    public var decisionSeconds: Percentiles
    public var kvBytes: Int
    /// Transfers by transport name.
    public var transports: [String: Int]
}
