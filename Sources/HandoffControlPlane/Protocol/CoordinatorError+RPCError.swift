import GRPCCore
import HandoffControlProtocol

extension CoordinatorError {
    /// The gRPC status this error is reported with.
    public var rpcError: RPCError {
        let code: RPCError.Code =
            switch self {
            case .invalidArgument: .invalidArgument
            case .alreadyExists: .alreadyExists
            case .notFound: .notFound
            case .permissionDenied: .permissionDenied
            case .failedPrecondition: .failedPrecondition
            case .outOfRange: .outOfRange
            case .resourceExhausted: .resourceExhausted
            case .unavailable: .unavailable
            case .deadlineExceeded: .deadlineExceeded
            }
        return RPCError(code: code, message: description)
    }
}

extension ProtocolError {
    /// Malformed messages are reported as INVALID_ARGUMENT.
    public var rpcError: RPCError { RPCError(code: .invalidArgument, message: message) }
}
