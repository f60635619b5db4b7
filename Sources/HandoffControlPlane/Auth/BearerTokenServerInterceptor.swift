import GRPCCore
import HandoffControlProtocol

/// Refuses every call that does not carry the coordinator's bearer token, with UNAUTHENTICATED.
public struct BearerTokenServerInterceptor: ServerInterceptor {
    let token: BearerToken

    public init(token: BearerToken) { self.token = token }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard let header = request.metadata[stringValues: "authorization"].first(where: { _ in true }) else {
            throw RPCError(code: .unauthenticated, message: "missing authorization: Bearer <token>")
        }
        guard token.accepts(header: header) else {
            throw RPCError(code: .unauthenticated, message: "the bearer token is not this coordinator's")
        }
        return try await next(request, context)
    }
}
