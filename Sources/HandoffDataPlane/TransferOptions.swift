/// How one plan is executed.
public struct TransferOptions: Sendable, Hashable {
    /// The most ops in flight at once; the rest wait for a slot.
    public var maxOutstandingOps: Int
    /// How long the whole transfer may take before it fails with `DataPlaneError.timedOut`.
    public var timeout: Duration

    public init(maxOutstandingOps: Int = 128, timeout: Duration = .seconds(30)) {
        self.maxOutstandingOps = max(1, maxOutstandingOps)
        self.timeout = timeout
    }
}
