import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Where a coordinator listens, the token to reach it with, and whether to reach it over TLS.
public struct CoordinatorAddress: Sendable, Hashable, CustomStringConvertible {
    /// The coordinator's gRPC address: an IPv4 or IPv6 literal or a DNS name (a Kubernetes Service).
    public var endpoint: HostPort
    public var token: BearerToken
    /// TLS to the coordinator (its certificate checked against `trustRoots` and the endpoint's host, this
    /// side's certificate presented when given); nil: plaintext.
    public var tls: TLSFiles?

    public init(endpoint: HostPort, token: BearerToken, tls: TLSFiles? = nil) {
        self.endpoint = endpoint
        self.token = token
        self.tls = tls
    }

    public init(host: String, port: Int, token: BearerToken, tls: TLSFiles? = nil) {
        self.init(endpoint: HostPort(host: host, port: port), token: token, tls: tls)
    }

    /// Parses `HOST:PORT` (`[IPV6]:PORT`); the host may be a DNS name.
    ///
    /// - Throws: `HostPortError` when the text is not such an address.
    public init(parsing text: String, token: BearerToken, tls: TLSFiles? = nil) throws(HostPortError) {
        self.init(endpoint: try HostPort(parsing: text), token: token, tls: tls)
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
    let transport = try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: address.tls.map(\.clientSecurity) ?? .plaintext)
    return try await withGRPCClient(
        transport: transport, interceptors: [BearerTokenClientInterceptor(token: address.token)]
    ) {
        client in
        try await body(Handoff_V1_Coordinator.Client(wrapping: client))
    }
}

extension TLSFiles {
    /// TLS from the client's side: the coordinator verified against `trustRoots` (or the system's roots) with
    /// its host name, this side's certificate presented when there is one.
    var clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .tls { config in
            if let trustRoots { config.trustRoots = .certificates([.file(path: trustRoots, format: .pem)]) }
            if let certificateChain, let privateKey {
                config.certificateChain = [.file(path: certificateChain, format: .pem)]
                config.privateKey = .file(path: privateKey, format: .pem)
            }
        }
    }
}
