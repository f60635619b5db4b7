/// The data plane's own measurement of one KV transfer, as a decode worker reports it.
public struct TransferStats: Sendable, Hashable {
    public var bytes: Int
    public var ops: Int
    /// Block pieces (descriptors) the plan covered before merging.
    public var descriptors: Int
    public var transport: String
    /// The transports underneath, e.g. UCX's lanes ("sysv", "rc_mlx5").
    public var lowerTransports: [String]
    public var postSeconds: Double
    public var completionSeconds: Double
    /// Why the transfer ran over native TCP instead of UCX (a `FallbackReason` raw value), or empty. A string:
    /// it comes from the worker as reported.
    public var fallback: String

    public init(
        bytes: Int, ops: Int, descriptors: Int, transport: String, lowerTransports: [String], postSeconds: Double,
        completionSeconds: Double, fallback: String = ""
    ) {
        self.fallback = fallback
        self.bytes = bytes
        self.ops = ops
        self.descriptors = descriptors
        self.transport = transport
        self.lowerTransports = lowerTransports
        self.postSeconds = postSeconds
        self.completionSeconds = completionSeconds
    }

    /// Post plus completion time: the transfer as the data plane measured it.
    public var totalSeconds: Double { postSeconds + completionSeconds }
}
