import GRPCCore
import HandoffControlProtocol

/// Adds `authorization: Bearer <token>` to every call a client makes.
public struct BearerTokenClientInterceptor: ClientInterceptor {
    let header: String

    public init(token: BearerToken) { header = "Bearer \(token.value)" }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString(header, forKey: "authorization")
        return try await next(request, context)
    }
}
