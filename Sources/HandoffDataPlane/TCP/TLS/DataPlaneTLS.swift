import COpenSSL

/// Mutual TLS for the native TCP data plane: every connection between two workers is encrypted, and each side
/// proves it holds a certificate that `trustRoots` signed. TLS 1.3 only.
///
/// Peers are authenticated by their certificate's chain to the CA, not by name: a worker reaches a peer at the
/// addresses the peer advertises, and the cluster's CA is what says who belongs to it. Which pool a connection may
/// touch is still decided by the pool key and, on pools that require them, by per-ticket grants.
public struct DataPlaneTLS: Sendable, Hashable {
    /// PEM file with this side's certificate chain, leaf first.
    public var certificateChain: String
    /// PEM file with the private key of the leaf certificate.
    public var privateKey: String
    /// PEM file with the CA certificates a peer's chain must lead to.
    public var trustRoots: String

    public init(certificateChain: String, privateKey: String, trustRoots: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
    }
}

/// Why TLS could not be set up from a `DataPlaneTLS`, or why a handshake failed.
public struct DataPlaneTLSError: Error, Sendable, CustomStringConvertible {
    public var description: String

    /// `what`, with OpenSSL's queued errors for this thread (which it clears).
    static func openSSL(_ what: String) -> DataPlaneTLSError {
        DataPlaneTLSError(description: what + openSSLErrors())
    }

    /// ": reason; reason" for each error OpenSSL queued on this thread, or "".
    static func openSSLErrors() -> String {
        var reasons: [String] = []
        var code = ERR_get_error()
        while code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            code = ERR_get_error()
        }
        return reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")
    }
}

/// The two OpenSSL contexts a TCP transport with TLS uses: one to serve, one to connect. Made once; sessions are
/// made from them on any thread.
final class DataPlaneTLSContexts: @unchecked Sendable {
    // @unchecked: SSL_CTX is immutable after setup here, and OpenSSL allows SSL_new on it from any thread.
    let server: OpaquePointer
    let client: OpaquePointer

    /// - Throws: `DataPlaneTLSError` naming the file OpenSSL could not use.
    init(_ configuration: DataPlaneTLS) throws(DataPlaneTLSError) {
        let server = try Self.makeContext(configuration, method: TLS_server_method())
        do {
            client = try Self.makeContext(configuration, method: TLS_client_method())
        } catch {
            SSL_CTX_free(server)
            throw error
        }
        self.server = server
        // A TLS 1.3 server sends session tickets after the handshake; none are sent, so that a pooled connection
        // stays silent between requests (a readable idle connection is taken to be closed).
        SSL_CTX_set_num_tickets(server, 0)
    }

    deinit {
        SSL_CTX_free(server)
        SSL_CTX_free(client)
    }

    private static func makeContext(
        _ configuration: DataPlaneTLS, method: OpaquePointer?
    ) throws(DataPlaneTLSError) -> OpaquePointer {
        ERR_clear_error()
        guard let context = SSL_CTX_new(method) else { throw .openSSL("SSL_CTX_new failed") }
        func check(_ result: Int32, _ what: String) throws(DataPlaneTLSError) {
            if result != 1 {
                SSL_CTX_free(context)
                throw .openSSL(what)
            }
        }
        try check(handoff_ssl_ctx_require_tls13(context), "TLS 1.3 is not available")
        // AES-128-GCM first: as safe for KV in flight as AES-256, and about a quarter faster where AES-NI runs it.
        try check(
            SSL_CTX_set_ciphersuites(
                context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"),
            "the TLS 1.3 cipher suites are not available")
        try check(
            SSL_CTX_use_certificate_chain_file(context, configuration.certificateChain),
            "cannot use the certificate chain \(configuration.certificateChain)")
        try check(
            SSL_CTX_use_PrivateKey_file(context, configuration.privateKey, SSL_FILETYPE_PEM),
            "cannot use the private key \(configuration.privateKey)")
        try check(
            SSL_CTX_check_private_key(context),
            "the private key \(configuration.privateKey) does not match \(configuration.certificateChain)")
        try check(
            SSL_CTX_load_verify_locations(context, configuration.trustRoots, nil),
            "cannot use the CA certificates \(configuration.trustRoots)")
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        // Records are read as they arrive, several per read(2), instead of a header and a body at a time.
        handoff_ssl_ctx_read_ahead(context)
        return context
    }
}
