import HandoffControlProtocol

/// One request's record: where it went, how it ended, and where its time to first token went.
public struct RequestAccount: Sendable, Hashable {
    public var requestID: String
    /// The current (or last) attempt's ticket.
    public var ticket: String
    public var state: TicketState
    /// Why it failed or expired, or why it awaits a new pair; empty otherwise.
    public var failure: String
    public var prefill: WorkerIdentity?
    public var decode: WorkerIdentity?
    public var promptTokens: Int
    public var attempts: Int
    public var timeline: TicketTimeline
    /// The transfer as the data plane reported it, once done.
    public var transfer: TransferStats?
    public var verified: Bool
    /// How the KV moved: `.push` only when the prefill worker pushed it (a push-mode request it declined to push
    /// was pulled).
    public var transferMode: TransferMode = .pull
    /// The decode worker holds blocks for the request.
    public var reserved = false

    /// The TTFT components, once the first token has come.
    public var components: TTFTComponents? { timeline.components() }

    /// About how much memory the account holds: a fixed part (numbers, timeline, dictionary entry) and its
    /// strings. What the coordinator's cap on retained accounts in bytes counts.
    var estimatedBytes: Int {
        let strings =
            [
                requestID, ticket, failure, prefill?.id ?? "", decode?.id ?? "", transfer?.transport ?? "",
                transfer?.fallback ?? "",
            ] + (transfer?.lowerTransports ?? [])
        return 512 + 2 * requestID.utf8.count + strings.reduce(0) { $0 + $1.utf8.count + 16 }
    }
}
