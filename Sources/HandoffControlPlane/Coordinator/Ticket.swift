import HandoffControlProtocol

/// One attempt at moving a request's KV from a prefill worker to a decode worker.
struct Ticket {
    var id: String
    var request: AdmitRequest
    var attempt: Int
    var state: TicketState
    /// When the current state's deadline passes (coordinator clock, ns).
    var deadline: UInt64
    /// When the prefill worker's hold on the blocks ends, once prefill is done.
    var leaseDeadline: UInt64?
    var prefill: WorkerIdentity
    var decode: WorkerIdentity
    var blocks: Int
    var contentSeed: UInt64
    var sourceBlocks: [Int]?
    /// The prefill worker's data-plane grant of `sourceBlocks`, relayed in the pull.
    var sourceGrant: UInt64 = 0
    var destinationBlocks: [Int]?
    /// Leading blocks of the prompt the decode worker already held (its prefix cache): they do not move.
    var cachedBlocks = 0
    var timeline: TicketTimeline
    var transfer: TransferStats?
    var verified = false
    /// The prefill worker has been told to free the blocks.
    var prefillReleased = false
    /// Prefill workers whose attempts at this request failed.
    var failedPrefill: Set<String> = []
    /// Push mode: the decode worker's WRITE grant of `destinationBlocks` (0: none, the KV is pulled).
    var destinationGrant: UInt64 = 0
    /// Push mode: the prefill worker was sent the push target.
    var pushTargetSent = false
    /// Push mode: the prefill worker pushed the KV (PushDone came).
    var pushed = false
    /// The attempt's spans, when a tracer is installed.
    var trace: RequestTrace?

    func account(state: TicketState? = nil, failure: String = "") -> RequestAccount {
        RequestAccount(
            requestID: request.requestID, ticket: id, state: state ?? self.state, failure: failure, prefill: prefill,
            decode: decode, promptTokens: request.promptTokens, attempts: attempt, timeline: timeline,
            transfer: transfer, verified: verified, transferMode: pushed ? .push : .pull,
            reserved: destinationBlocks != nil)
    }
}
