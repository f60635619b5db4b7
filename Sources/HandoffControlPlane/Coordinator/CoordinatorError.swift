import HandoffControlProtocol

/// Why the coordinator refused a call. Every case leaves the coordinator's state as it was.
public enum CoordinatorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request was malformed (empty id, bad layout, contradicting model, wrong hash, bad block list).
    case invalidArgument(String)
    /// A worker id or request id is already in use.
    case alreadyExists(String)
    /// No such ticket, request or worker.
    case notFound(String)
    /// The caller is not the worker the ticket belongs to.
    case permissionDenied(String)
    /// The report does not fit the ticket's state.
    case failedPrecondition(String)
    /// A block id outside the worker's pool.
    case outOfRange(String)
    /// No compatible worker can take the request now.
    case resourceExhausted(String)
    /// The coordinator is shutting down and admits nothing.
    case unavailable(String)
    /// A wait ran out.
    case deadlineExceeded(String)

    public var description: String {
        switch self {
        case .invalidArgument(let message), .alreadyExists(let message), .notFound(let message),
            .permissionDenied(let message), .failedPrecondition(let message), .outOfRange(let message),
            .resourceExhausted(let message), .unavailable(let message), .deadlineExceeded(let message):
            message
        }
    }
}
