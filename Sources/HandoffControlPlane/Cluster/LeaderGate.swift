import GRPCCore
import HandoffControlProtocol

/// Lets calls through only on the leader. A follower refuses each with UNAVAILABLE and the leader's address in the
/// trailing metadata (`LeaderRedirect.metadataKey`), so that clients go there.
struct LeaderGate: ServerInterceptor {
    let role: ClusterRole
    /// This coordinator's advertised address, for the message.
    let advertised: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        switch role.current {
        case .leader:
            return try await next(request, context)
        case .follower(let leader):
            var metadata = Metadata()
            metadata.addString(leader ?? "", forKey: LeaderRedirect.metadataKey)
            let whereabouts =
                leader.map { "the leader is at \($0)" }
                ?? "no leader is elected yet; retry shortly"
                + (role.problem.map { " (this coordinator cannot lead now: \($0))" } ?? "")
            throw RPCError(
                code: .unavailable, message: "coordinator \(advertised) does not lead its cluster: \(whereabouts)",
                metadata: metadata)
        }
    }
}
