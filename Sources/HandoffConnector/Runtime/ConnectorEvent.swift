import HandoffControlProtocol

/// What the connector runtime asks of the engine, in the order the coordinator's instructions arrived.
///
/// The engine answers each with one call on `ConnectorRuntime` (named below). Blocks change hands at exactly two
/// points: the engine's answer hands them to the runtime's care (`prefillDone`, `reserved`), and `release` hands
/// them back — the engine frees a ticket's blocks when, and only when, it receives `release` for it, or when an
/// answer throws `ConnectorError.unknownTicket`.
public enum ConnectorEvent: Sendable, Hashable {
    /// A session with the coordinator is open (again); `instance` is this worker's registered instance.
    case registered(instance: UInt64)
    /// Prefill: compute the prompt, then answer `prefillDone(ticket:blocks:)` with the blocks holding its KV in
    /// token order (`prefillStarted(ticket:)` when computing begins is optional). An engine that pushes calls
    /// `pushLayers(ticket:blocks:through:)` as layers are computed and `finishPush(ticket:blocks:)` after the last,
    /// before `prefillDone`.
    case prefill(PrefillOrder)
    /// Decode: allocate `blocks` blocks for the ticket and answer `reserved(ticket:blocks:)`, or
    /// `reserveFailed(ticket:reason:)`.
    case reserve(ticket: String, blocks: Int)
    /// Decode: the runtime pulled the ticket's KV into `order.destinationBlocks` (the reserved ones). Answer
    /// `transferDone(ticket:verified:)`; the blocks are then the engine's request's; then `firstToken`.
    case loaded(PullOrder, stats: TransferStats)
    /// Decode: the pull failed (reported to the coordinator already); a `release` follows. `traceparent` is the
    /// pull order's, as in `loaded`.
    case loadFailed(ticket: String, reason: String, traceparent: String = "")
    /// The ticket is over: free its blocks. On prefill the data plane no longer serves them (the grant is
    /// revoked); on decode no pull writes into them any more.
    case release(ticket: String, reason: String)

    /// The ticket the event is about; nil for `registered`.
    public var ticket: String? {
        switch self {
        case .registered: nil
        case .prefill(let order): order.ticket
        case .loaded(let order, _): order.ticket
        case .reserve(let ticket, _), .loadFailed(let ticket, _, _), .release(let ticket, _): ticket
        }
    }

    /// The W3C `traceparent` of the request's span at the coordinator, from the order the event came from
    /// (`prefill`, `loaded`, `loadFailed`); empty when the request is not traced, or for other events. An engine
    /// that traces makes its own spans for the ticket under it.
    public var traceparent: String {
        switch self {
        case .prefill(let order): order.traceparent
        case .loaded(let order, _): order.traceparent
        case .loadFailed(_, _, let traceparent): traceparent
        case .registered, .reserve, .release: ""
        }
    }
}
