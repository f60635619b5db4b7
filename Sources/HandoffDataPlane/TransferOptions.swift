/// How one plan is executed.
public struct TransferOptions: Sendable, Hashable {
    /// The most ops in flight at once; the rest wait for a slot.
    public var maxOutstandingOps: Int
    /// How long the whole transfer may take before it fails with `DataPlaneError.timedOut`.
    public var timeout: Duration
    /// The token of the peer's `AccessGrant` that covers the plan's ranges of its pool; 0 for a pool open to
    /// every holder of its descriptor.
    public var grant: UInt64

    public init(maxOutstandingOps: Int = 128, timeout: Duration = .seconds(30), grant: UInt64 = 0) {
        self.maxOutstandingOps = max(1, maxOutstandingOps)
        self.timeout = timeout
        self.grant = grant
    }
}
