import HandoffControlProtocol

/// Monotonic timestamps (nanoseconds, coordinator clock) of the events of one request.
public struct TicketTimeline: Sendable, Hashable {
    public var admitted: UInt64
    public var prefillStarted: UInt64?
    public var prefillDone: UInt64?
    /// When the decode worker reported its blocks reserved.
    public var reserved: UInt64?
    public var pullSent: UInt64?
    public var transferDone: UInt64?
    public var firstToken: UInt64?
    /// The data plane's own measurement of the transfer, nanoseconds.
    public var kvTransferMeasured: UInt64?
    /// Push mode: how long the prefill engine waited for its push after computing its last layer, nanoseconds.
    /// `prefillDone` is then when the push was done.
    public var pushExposed: UInt64?

    public init(admitted: UInt64) { self.admitted = admitted }

    /// The components of the time to first token, or nil until the first token has come.
    ///
    /// queue = admitted → prefill started; prefill = started → done; kv_transfer = the data plane's measurement
    /// (bounded by the pull-sent → transfer-done interval it happened in); first_decode = transfer done → first
    /// token; coordination = the rest of prefill done → transfer done (hand-offs and messaging). They add up to
    /// ttft exactly.
    ///
    /// A pushed request's transfer overlapped its prefill: kv_transfer is only the part the engine waited for
    /// after its last layer (`pushExposed`), taken out of prefill; coordination is push done → decode took it.
    public func components() -> TTFTComponents? {
        guard let firstToken, let transferDone, let pullSent, let prefillDone else { return nil }
        let started = prefillStarted ?? prefillDone
        if let pushExposed {
            let kv = min(pushExposed, prefillDone - started)
            return TTFTComponents(
                queue: started - admitted,
                prefill: prefillDone - started - kv,
                coordination: transferDone - prefillDone,
                kvTransfer: kv,
                firstDecode: firstToken - transferDone,
                ttft: firstToken - admitted)
        }
        let window = transferDone &- pullSent
        let kv = min(kvTransferMeasured ?? 0, window)
        return TTFTComponents(
            queue: started - admitted,
            prefill: prefillDone - started,
            coordination: (pullSent - prefillDone) + (window - kv),
            kvTransfer: kv,
            firstDecode: firstToken - transferDone,
            ttft: firstToken - admitted)
    }
}
