import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffTestSupport

/// A coordinator server for the service tests, whose workers are mailboxes that never heartbeat: the interval
/// is a minute, so that a loaded test run does not see them lost.
func withCoordinatorServer(
    tls: TLSFiles? = nil, limits: GRPCPortLimits = .init(),
    _ body: (CoordinatorAddress, Coordinator) async throws -> Void
) async throws {
    try await HandoffTestSupport.withCoordinatorServer(
        tls: tls, limits: limits, configure: { $0.heartbeatInterval = .seconds(60) }, body)
}
