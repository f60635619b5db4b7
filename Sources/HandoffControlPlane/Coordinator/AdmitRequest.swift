import HandoffControlProtocol

/// A router's request to admit one inference request.
public struct AdmitRequest: Sendable, Hashable {
    public var requestID: String
    public var model: String
    public var promptTokens: Int
    public var loadFailurePolicy: LoadFailurePolicy
    /// Optional placement hints: prefer workers with these labels.
    public var node: String
    public var rack: String
    /// Pull (default) or push.
    public var transferMode: TransferMode
    /// The caller's W3C `traceparent`, a valid one or empty: the coordinator's span for the request is its child.
    public var traceparent: String

    public init(
        requestID: String, model: String, promptTokens: Int, loadFailurePolicy: LoadFailurePolicy = .fail,
        node: String = "", rack: String = "", transferMode: TransferMode = .pull, traceparent: String = ""
    ) {
        self.traceparent = TraceParent.checked(traceparent)
        self.transferMode = transferMode
        self.requestID = requestID
        self.model = model
        self.promptTokens = promptTokens
        self.loadFailurePolicy = loadFailurePolicy
        self.node = node
        self.rack = rack
    }
}

/// The coordinator's answer to an admission.
public struct Admission: Sendable, Hashable {
    public var ticket: String
    public var prefill: WorkerIdentity
    public var decode: WorkerIdentity
    public var blocks: Int
    /// Time spent deciding, seconds.
    public var decisionSeconds: Double
    /// The paired workers' registered endpoints (empty when they registered none).
    public var prefillEndpoint: String = ""
    public var decodeEndpoint: String = ""
}
