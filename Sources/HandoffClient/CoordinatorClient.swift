import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import NIOCore

/// Where a coordinator listens, the token to reach it with, and whether to reach it over TLS.
///
/// Several addresses name the coordinators of one cluster: clients find the leader among them (a follower's
/// refusal names it; an unreachable one is skipped).
public struct CoordinatorAddress: Sendable, Hashable, CustomStringConvertible {
    /// The coordinators' gRPC addresses: IPv4 or IPv6 literals or DNS names (a Kubernetes Service); at least one.
    public var endpoints: [HostPort]
    public var token: BearerToken
    /// TLS to the coordinator (its certificate checked against `trustRoots` and the endpoint's host, this
    /// side's certificate presented when given); nil: plaintext.
    public var tls: TLSFiles?

    public init(endpoints: [HostPort], token: BearerToken, tls: TLSFiles? = nil) {
        precondition(!endpoints.isEmpty, "a coordinator address names at least one endpoint")
        self.endpoints = endpoints
        self.token = token
        self.tls = tls
    }

    public init(endpoint: HostPort, token: BearerToken, tls: TLSFiles? = nil) {
        self.init(endpoints: [endpoint], token: token, tls: tls)
    }

    public init(host: String, port: Int, token: BearerToken, tls: TLSFiles? = nil) {
        self.init(endpoint: HostPort(host: host, port: port), token: token, tls: tls)
    }

    /// Parses `HOST:PORT` (`[IPV6]:PORT`), or several separated by commas for the coordinators of a cluster; a
    /// host may be a DNS name.
    ///
    /// - Throws: `HostPortError` when an address is not such an address.
    public init(parsing text: String, token: BearerToken, tls: TLSFiles? = nil) throws(HostPortError) {
        var endpoints: [HostPort] = []
        for part in text.split(separator: ",") where !part.isEmpty {
            endpoints.append(try HostPort(parsing: String(part)))
        }
        guard !endpoints.isEmpty else { throw HostPortError(text: text, reason: "expected HOST:PORT[,HOST:PORT...]") }
        self.init(endpoints: endpoints, token: token, tls: tls)
    }

    /// The first address.
    public var endpoint: HostPort { endpoints[0] }
    public var host: String { endpoint.host }
    public var port: Int { endpoint.port }

    public var description: String { endpoints.map(\.description).joined(separator: ",") }

    /// How often a client pings a coordinator, and how long it waits for the answer before it closes the connection:
    /// a coordinator that vanished without closing (a host gone, a cut link) is left within about 30 s. Shorter
    /// times broke healthy sessions of engines whose process was busy computing (a vLLM server on two cores missed
    /// 1 s answers), and a session that breaks fails its requests; a paused leader instead closes its workers'
    /// sessions itself when it wakes and finds its lease lapsed.
    public static let keepalive = HTTP2ClientTransport.Config.Keepalive(
        time: .seconds(10), timeout: .seconds(20), allowWithoutCalls: true)

    /// How long a new connection may wait for the coordinator's first bytes (TLS or the HTTP/2 settings) before it
    /// is closed (`ServerGreetingDeadline`).
    public static let greetingTimeout = TimeAmount.seconds(10)

    /// The transport configuration of every coordinator client: `keepalive`, `greetingTimeout`, and the defaults
    /// otherwise.
    static var transportConfig: HTTP2ClientTransport.Posix.Config {
        .defaults { config in
            config.connection.keepalive = keepalive
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ServerGreetingDeadline(deadline: greetingTimeout), position: .first)
                }
            }
        }
    }

    /// The gRPC target of `endpoint`: an IPv4 or IPv6 address as it is, a name through DNS (every address it
    /// resolves to).
    static func target(_ endpoint: HostPort) -> any ResolvableTarget {
        if endpoint.isIPv4Literal { return .ipv4(address: endpoint.host, port: endpoint.port) }
        if endpoint.isIPv6Literal { return .ipv6(address: endpoint.host, port: endpoint.port) }
        return .dns(host: endpoint.host, port: endpoint.port)
    }
}

/// Runs `body` with a connected, authenticated client of the coordinator at `endpoint` (the address's first by
/// default); closes it afterwards. It makes no attempt to find a cluster's leader: see
/// `withLeaderCoordinatorClient` and `CoordinatorConnection`.
public func withCoordinatorClient<Result: Sendable>(
    _ address: CoordinatorAddress, at endpoint: HostPort? = nil,
    _ body: (Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(
        target: CoordinatorAddress.target(endpoint ?? address.endpoint),
        transportSecurity: address.tls.map(\.clientSecurity) ?? .plaintext, config: CoordinatorAddress.transportConfig)
    return try await withGRPCClient(
        transport: transport, interceptors: [BearerTokenClientInterceptor(token: address.token)]
    ) {
        client in
        try await body(Handoff_V1_Coordinator.Client(wrapping: client))
    }
}

/// Runs `body` against the leader of the coordinators at `address`: when a coordinator refuses because it does
/// not lead, or cannot be reached while others are listed, `body` runs again at the leader it named or the next
/// address, until it succeeds or `failoverTimeout` has passed. For short exchanges that may be repeated from the
/// start (a command-line call); long-lived callers use a `CoordinatorConnection`.
public func withLeaderCoordinatorClient<Result: Sendable>(
    _ address: CoordinatorAddress, failoverTimeout: Duration = .seconds(15),
    _ body: (Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    var search = LeaderSearch(endpoints: address.endpoints, timeout: failoverTimeout)
    while true {
        do {
            return try await withCoordinatorClient(address, at: search.target, body)
        } catch {
            guard let delay = search.retry(after: error) else { throw error }
            try await Task.sleep(for: delay)
        }
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
