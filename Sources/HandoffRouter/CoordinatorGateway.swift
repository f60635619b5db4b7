import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffClient
import HandoffProto

/// The router's calls to the coordinator, each under a deadline, with gRPC failures turned into HTTP answers.
struct CoordinatorGateway: Sendable {
    /// Every call goes to the coordinators' leader, following it through a failover.
    let connection: CoordinatorConnection
    let timeout: Duration

    private var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    /// Admits a request: the ticket and the paired engines.
    /// - Throws: `RouterError` 503 when no pair has room or the coordinator cannot be reached, 400 for what the
    ///   coordinator refuses as invalid, 409 for a request id already in use.
    /// - Parameter traceparent: the client's W3C `traceparent` (valid or empty): the coordinator traces the request
    ///   under it.
    func admit(
        requestID: String, model: String, promptTokens: Int, mode: RouterConfiguration.TransferMode,
        traceparent: String = ""
    ) async throws(RouterError) -> Handoff_V1_AdmitResponse {
        let request = Handoff_V1_AdmitRequest.with {
            $0.requestID = requestID
            $0.model = model
            $0.promptTokens = UInt32(clamping: promptTokens)
            $0.loadFailurePolicy = .fail
            $0.transferMode = mode == .push ? .push : .pull
            $0.traceparent = traceparent
        }
        do {
            return try await connection.call { try await $0.admit(request, options: options) }
        } catch let error as RPCError {
            throw Self.routerError(error, doing: "admit the request")
        } catch {
            throw .unavailable("the coordinator could not admit the request: \(error)")
        }
    }

    /// Waits up to `timeout` until the request's decode worker has reserved its blocks; whether it has. Never
    /// throws: a push-mode request whose reservation is late is pulled instead.
    func awaitReservation(requestID: String, timeout: Duration) async -> Bool {
        let request = Handoff_V1_AwaitRequest.with {
            $0.requestID = requestID
            $0.timeoutSeconds = timeout.seconds
            $0.untilReserved = true
        }
        return (try? await connection.call { try await $0.await(request, options: options) }.reserved) ?? false
    }

    /// Ends a request at the coordinator (its workers release the blocks). Never throws: a request the coordinator
    /// no longer knows is already over.
    func cancel(requestID: String, reason: String) async {
        let request = Handoff_V1_CancelRequest.with {
            $0.requestID = requestID
            $0.reason = String(reason.prefix(256))
        }
        _ = try? await connection.call { try await $0.cancel(request, options: options) }
    }

    /// The workers the coordinator knows.
    func workers() async throws(RouterError) -> [Handoff_V1_WorkerInfo] {
        do {
            return try await connection.call {
                try await $0.listWorkers(Handoff_V1_ListWorkersRequest(), options: options).workers
            }
        } catch let error as RPCError {
            throw Self.routerError(error, doing: "list workers")
        } catch {
            throw .unavailable("the coordinator could not list workers: \(error)")
        }
    }

    static func routerError(_ error: RPCError, doing what: String) -> RouterError {
        let message = "the coordinator could not \(what): \(error.message)"
        switch error.code {
        case .invalidArgument, .outOfRange: return .badRequest(message)
        case .alreadyExists: return RouterError(.conflict, message)
        case .resourceExhausted, .unavailable, .deadlineExceeded: return .unavailable(message)
        case .unauthenticated, .permissionDenied:
            return RouterError(.badGateway, message + " (check the router's token)")
        default: return .badGateway(message)
        }
    }
}
