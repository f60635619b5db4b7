import HandoffClient

/// How `handoff router` runs: where it listens, the coordinator it admits at, and the limits of each phase.
public struct RouterConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var coordinator: CoordinatorAddress
    /// The longest prompt the engines take, in tokens (their max model length): it bounds a request's body.
    public var maxPromptTokens = 131_072 {
        didSet { maxBodyBytes = Self.bodyBytes(forPromptTokens: maxPromptTokens) }
    }
    /// The most bytes a client's request body may have: what the longest prompt takes as JSON token ids (8 bytes a
    /// token: a six-digit id, a comma and a space) or text, plus 64 KiB for the rest of the request.
    public private(set) var maxBodyBytes = bodyBytes(forPromptTokens: 131_072)
    /// The most bytes of request bodies held at once, across every request; a request whose body does not fit is
    /// refused with 503 before it is read.
    public var maxBufferedBodyBytes = 256 << 20
    /// How long a client may take to send its whole body (from the request's headers); a slot among
    /// `maxConcurrentRequests` is taken only once the body is in.
    public var bodyTimeout: Duration = .seconds(30)
    /// How long the prefill engine may take to answer.
    public var prefillTimeout: Duration = .seconds(120)
    /// How long the decode engine may take to start answering; its stream then runs as long as it sends.
    public var decodeTimeout: Duration = .seconds(120)
    /// The longest a streaming answer may stay silent before the router gives up on it.
    public var readIdleTimeout: Duration = .seconds(120)
    /// How long a coordinator call may take.
    public var coordinatorTimeout: Duration = .seconds(10)
    /// Requests handled at once; more are refused with 503 until one ends.
    public var maxConcurrentRequests = 1024
    /// How the KV of the requests moves.
    public var mode: TransferMode = .pull
    /// Push mode: how long the router waits for decode to reserve its blocks before it sends the prompt to prefill
    /// (prefill then has the push target before it computes). Zero (the default) sends both at once: a target that
    /// comes while prefill computes gets the layers already computed in one go and the rest as they come; one that
    /// comes after prefill's last layer means the KV is pulled. A wait helps prompts whose prefill is shorter than
    /// decode's way to its reservation.
    public var pushReserveWait: Duration = .zero

    /// How the KV of the router's requests moves from prefill to decode.
    public enum TransferMode: String, Sendable, CaseIterable {
        /// Prefill first; once it answers, decode gets the request and pulls the KV (as vLLM's NixlConnector).
        case pull
        /// Prefill and decode get the request at once: decode reserves its blocks at admission and prefill engines
        /// running HandoffConnector with `"mode": "push"` write each layer into them as soon as it is computed.
        case push
    }

    /// The body size `maxPromptTokens` allows.
    static func bodyBytes(forPromptTokens tokens: Int) -> Int {
        let (bytes, overflow) = max(1, tokens).multipliedReportingOverflow(by: 8)
        return overflow ? Int.max / 2 : bytes + (64 << 10)
    }

    public init(host: String, port: Int, coordinator: CoordinatorAddress) {
        self.host = host
        self.port = port
        self.coordinator = coordinator
    }
}
