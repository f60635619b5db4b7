import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffProto

/// Where a coordinator listens and the token to reach it with.
public struct CoordinatorAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var token: BearerToken

    public init(host: String, port: Int, token: BearerToken) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Parses `HOST:PORT`.
    ///
    /// - Throws: `ProtocolError` when there is no port or it is not a number in 1...65535.
    public init(parsing text: String, token: BearerToken) throws(ProtocolError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { throw ProtocolError("expected HOST:PORT, got \"\(text)\"") }
        self.init(host: String(text[..<colon]), port: port, token: token)
    }

    public var description: String { "\(host):\(port)" }
}

/// Runs `body` with a connected, authenticated client of the Coordinator service; closes it afterwards.
public func withCoordinatorClient<Result: Sendable>(
    _ address: CoordinatorAddress,
    _ body: (Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: address.host, port: address.port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport, interceptors: [BearerTokenClientInterceptor(token: address.token)]) {
        client in
        try await body(Handoff_V1_Coordinator.Client(wrapping: client))
    }
}
