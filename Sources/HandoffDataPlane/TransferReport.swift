/// What one executed plan did: the figures a TTFT account and `handoff bench` need.
public struct TransferReport: Sendable, Hashable, Codable {
    /// READ (pulled) or WRITE (pushed).
    public var operation: TransferOperation
    /// Bytes moved.
    public var bytes: Int
    /// Ops posted to the transport after merging.
    public var ops: Int
    /// Block pieces the plan covered before merging.
    public var pieces: Int
    /// The data plane that moved the bytes (`ucx`, later `tcp`).
    public var transport: String
    /// The lower-level transports the peer connection actually uses (for UCX: its lanes, such as `posix`, `cma`, `tcp`).
    public var lowerTransports: [String]
    /// Seconds from the call until every op was in flight.
    public var postSeconds: Double
    /// Seconds from the last op in flight until every op had completed.
    public var completionSeconds: Double
    /// Per-op latency from posting to completion.
    public var opLatency: LatencySummary
    /// Why the transfer ran over native TCP instead of UCX (`AutoTransport` only); nil when it ran the
    /// preferred way.
    public var fallback: FallbackReason? = nil

    /// Seconds from the call until completion: post time plus completion time.
    public var totalSeconds: Double { postSeconds + completionSeconds }

    /// Bytes per second over the whole call.
    public var bytesPerSecond: Double { totalSeconds > 0 ? Double(bytes) / totalSeconds : 0 }
}
