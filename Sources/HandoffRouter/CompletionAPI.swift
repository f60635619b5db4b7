/// The two OpenAI APIs the router fronts.
public enum CompletionAPI: String, Sendable, CaseIterable {
    /// `/v1/completions`: a prompt (text or token ids).
    case completions
    /// `/v1/chat/completions`: messages, templated by the engine.
    case chat

    /// The path on the router and on the engines.
    public var path: String {
        switch self {
        case .completions: "/v1/completions"
        case .chat: "/v1/chat/completions"
        }
    }
}
