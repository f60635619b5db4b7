import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffCore
import HandoffProto
import Synchronization

/// Clients of every coordinator at an address, for a long-lived caller (a router, a load driver): each `call`
/// goes to the coordinator that led last and follows the leader through a failover.
public final class CoordinatorConnection: Sendable {
    public typealias Client = Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>

    public let endpoints: [HostPort]
    let clients: [Client]
    let failoverTimeout: Duration
    /// The coordinator that answered last.
    private let leader: Mutex<HostPort>

    init(endpoints: [HostPort], clients: [Client], failoverTimeout: Duration) {
        self.endpoints = endpoints
        self.clients = clients
        self.failoverTimeout = failoverTimeout
        leader = Mutex(endpoints[0])
    }

    /// Runs `body` on the leader's client; when it fails because that coordinator does not lead (or cannot be
    /// reached while others are listed), runs it again on the leader named or the next coordinator, for up to
    /// the failover timeout. `body` must be safe to repeat from its start.
    ///
    /// - Parameter onRetry: told of each error that is retried (a follower's refusal, an unreachable coordinator).
    public func call<Result: Sendable>(
        onRetry: (any Error) -> Void = { _ in }, _ body: (Client) async throws -> Result
    ) async throws -> Result {
        var search = LeaderSearch(endpoints: endpoints, start: leader.withLock { $0 }, timeout: failoverTimeout)
        while true {
            let target = search.target
            do {
                let result = try await body(client(at: target))
                leader.withLock { $0 = target }
                return result
            } catch {
                guard let delay = search.retry(after: error) else { throw error }
                onRetry(error)
                try await Task.sleep(for: delay)
            }
        }
    }

    /// The coordinator that answered last.
    public var currentLeader: HostPort { leader.withLock { $0 } }

    private func client(at endpoint: HostPort) -> Client {
        clients[endpoints.firstIndex(of: endpoint) ?? 0]
    }
}

/// Runs `body` with a `CoordinatorConnection` to the coordinators at `address`; closes it afterwards.
public func withCoordinatorConnection<Result: Sendable>(
    _ address: CoordinatorAddress, failoverTimeout: Duration = .seconds(15),
    _ body: (CoordinatorConnection) async throws -> Result
) async throws -> Result {
    let clients = try address.endpoints.map { endpoint in
        GRPCClient(
            transport: try HTTP2ClientTransport.Posix(
                target: CoordinatorAddress.target(endpoint),
                transportSecurity: address.tls.map(\.clientSecurity) ?? .plaintext,
                config: CoordinatorAddress.transportConfig),
            interceptors: [BearerTokenClientInterceptor(token: address.token)])
    }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        for client in clients { group.addTask { try await client.runConnections() } }
        let connection = CoordinatorConnection(
            endpoints: address.endpoints, clients: clients.map { Handoff_V1_Coordinator.Client(wrapping: $0) },
            failoverTimeout: failoverTimeout)
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body(connection))
        } catch {
            outcome = .failure(error)
        }
        for client in clients { client.beginGracefulShutdown() }
        try await group.waitForAll()
        return try outcome.get()
    }
}
