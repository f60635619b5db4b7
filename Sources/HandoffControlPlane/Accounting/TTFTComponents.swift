import HandoffControlProtocol

/// Where a request's time to first token went, in nanoseconds. The parts add up to `ttft`.
public struct TTFTComponents: Sendable, Hashable {
    public var queue: UInt64
    public var prefill: UInt64
    public var coordination: UInt64
    public var kvTransfer: UInt64
    public var firstDecode: UInt64
    public var ttft: UInt64

    public init(
        queue: UInt64, prefill: UInt64, coordination: UInt64, kvTransfer: UInt64, firstDecode: UInt64, ttft: UInt64
    ) {
        self.queue = queue
        self.prefill = prefill
        self.coordination = coordination
        self.kvTransfer = kvTransfer
        self.firstDecode = firstDecode
        self.ttft = ttft
    }

    /// The names used in metrics, JSON and the demo's table, with their values in nanoseconds.
    public var named: [(name: String, nanoseconds: UInt64)] {
        [
            ("ttft", ttft), ("queue", queue), ("prefill", prefill), ("kv_transfer", kvTransfer),
            ("first_decode", firstDecode), ("coordination", coordination),
        ]
    }

    /// The sum of the parts; equals `ttft` for components built from a timeline.
    public var sumOfParts: UInt64 { queue + prefill + coordination + kvTransfer + firstDecode }
}
