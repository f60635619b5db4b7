import Histogram

/// What one executed plan did: the figures a TTFT account and `handoff bench` need.
public struct TransferReport: Sendable, Equatable, Codable {
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
    /// Per-op latency from posting to completion, in nanoseconds. Several reports' merge with `Histogram.add`.
    public var opLatencyNanoseconds: Histogram<UInt64>
    /// Why the transfer ran over native TCP instead of UCX (`AutoTransport` only); nil when it ran the
    /// preferred way.
    public var fallback: FallbackReason? = nil

    package init(
        operation: TransferOperation, bytes: Int, ops: Int, pieces: Int, transport: String, lowerTransports: [String],
        postSeconds: Double, completionSeconds: Double, opLatencyNanoseconds: Histogram<UInt64>,
        fallback: FallbackReason? = nil
    ) {
        self.operation = operation
        self.bytes = bytes
        self.ops = ops
        self.pieces = pieces
        self.transport = transport
        self.lowerTransports = lowerTransports
        self.postSeconds = postSeconds
        self.completionSeconds = completionSeconds
        self.opLatencyNanoseconds = opLatencyNanoseconds
        self.fallback = fallback
    }

    /// Percentiles of the per-op latency, in microseconds.
    public var opLatency: LatencySummary { LatencySummary(nanoseconds: opLatencyNanoseconds) }

    /// Seconds from the call until completion: post time plus completion time.
    public var totalSeconds: Double { postSeconds + completionSeconds }

    /// Bytes per second over the whole call.
    public var bytesPerSecond: Double { totalSeconds > 0 ? Double(bytes) / totalSeconds : 0 }

    /// This report and `next`'s, of a transfer run right after this one, as one: bytes, ops, pieces and seconds
    /// add up, per-op latencies merge, and the transport and fallback are `next`'s.
    public func followed(by next: TransferReport) -> TransferReport {
        var combined = next
        combined.bytes += bytes
        combined.ops += ops
        combined.pieces += pieces
        combined.postSeconds += postSeconds
        combined.completionSeconds += completionSeconds
        combined.opLatencyNanoseconds.add(opLatencyNanoseconds)
        return combined
    }
}
