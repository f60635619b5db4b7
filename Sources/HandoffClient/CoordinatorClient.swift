import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Where a coordinator listens and the token to reach it with.
public struct CoordinatorAddress: Sendable, Hashable, CustomStringConvertible {
    /// The coordinator's gRPC address: an IPv4 or IPv6 literal or a DNS name (a Kubernetes Service).
    public var endpoint: HostPort
    public var token: BearerToken

    public init(endpoint: HostPort, token: BearerToken) {
        self.endpoint = endpoint
        self.token = token
    }

    public init(host: String, port: Int, token: BearerToken) {
        self.init(endpoint: HostPort(host: host, port: port), token: token)
    }

    /// Parses `HOST:PORT` (`[IPV6]:PORT`); the host may be a DNS name.
    ///
    /// - Throws: `HostPortError` when the text is not such an address.
    public init(parsing text: String, token: BearerToken) throws(HostPortError) {
        self.init(endpoint: try HostPort(parsing: text), token: token)
    }

    public var host: String { endpoint.host }
    public var port: Int { endpoint.port }

    public var description: String { endpoint.description }

    /// The gRPC target: an IPv4 or IPv6 address as it is, a name through DNS (every address it resolves to).
    var target: any ResolvableTarget {
        if endpoint.isIPv4Literal { return .ipv4(address: endpoint.host, port: endpoint.port) }
        if endpoint.isIPv6Literal { return .ipv6(address: endpoint.host, port: endpoint.port) }
        return .dns(host: endpoint.host, port: endpoint.port)
    }
}

/// Runs `body` with a connected, authenticated client of the Coordinator service; closes it afterwards.
public func withCoordinatorClient<Result: Sendable>(
    _ address: CoordinatorAddress,
    _ body: (Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(target: address.target, transportSecurity: .plaintext)
    return try await withGRPCClient(
        transport: transport, interceptors: [BearerTokenClientInterceptor(token: address.token)]
    ) {
        client in
        try await body(Handoff_V1_Coordinator.Client(wrapping: client))
    }
}
