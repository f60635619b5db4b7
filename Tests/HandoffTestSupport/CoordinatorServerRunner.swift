import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import Prometheus

/// Runs a real coordinator gRPC server on a free loopback port for the duration of `body`, with a fresh token;
/// the address `body` gets names `host` (`localhost` makes clients resolve it through DNS).
public func withCoordinatorServer(
    host: String = "127.0.0.1", tls: TLSFiles? = nil, limits: GRPCPortLimits = .init(),
    configure: (inout CoordinatorConfiguration) -> Void = { _ in },
    _ body: (CoordinatorAddress, Coordinator) async throws -> Void
) async throws {
    let token = BearerToken.random()
    var configuration = CoordinatorConfiguration()
    configure(&configuration)
    let coordinator = Coordinator(configuration: configuration)
    let ports = AsyncStream.makeStream(of: Int.self)
    let server = CoordinatorServer(
        configuration: .init(
            host: "127.0.0.1", port: 0, metricsHost: nil, metricsPort: 0, token: token, tls: tls, limits: limits),
        coordinator: coordinator, registry: PrometheusCollectorRegistry()
    ) { port, _ in
        ports.continuation.yield(port)
        ports.continuation.finish()
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        var port = 0
        for await bound in ports.stream { port = bound }
        try await body(CoordinatorAddress(host: host, port: port, token: token), coordinator)
        group.cancelAll()
    }
}
