/// What went wrong talking to etcd.
public enum EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A member URL that cannot be used.
    case invalidEndpoint(String)
    /// A call failed: no member reachable, a deadline passed, or etcd refused it (the message says which).
    case callFailed(call: String, message: String)
    /// A lease this client relies on no longer exists in etcd (it expired or was revoked).
    case leaseLost(id: Int64)
    /// etcd answered something its API does not allow.
    case unexpectedAnswer(String)

    public var description: String {
        switch self {
        case .invalidEndpoint(let message): "invalid etcd endpoint: \(message)"
        case .callFailed(let call, let message): "etcd \(call) failed: \(message)"
        case .leaseLost(let id): "etcd lease \(String(id, radix: 16)) expired or was revoked"
        case .unexpectedAnswer(let message): "unexpected answer from etcd: \(message)"
        }
    }
}
