import ArgumentParser
import HandoffControlProtocol

/// `--tls-cert`, `--tls-key` and `--tls-ca`: TLS on the gRPC control plane, for the coordinator and its clients;
/// a worker given all three also speaks mutual TLS on its native TCP data plane. Each falls back to its
/// environment variable (`HANDOFF_TLS_CERT`, `HANDOFF_TLS_KEY`, `HANDOFF_TLS_CA`).
struct TLSOptions: ParsableArguments {
    @Option(help: "PEM certificate chain this side presents (default: $HANDOFF_TLS_CERT).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert (default: $HANDOFF_TLS_KEY).") var tlsKey: String?
    @Option(
        help: """
            PEM CA bundle the other side's certificate must chain to: on the coordinator it requires client \
            certificates (mutual TLS); on a client it replaces the system's roots; a worker with all three \
            options also requires them of its data-plane peers (default: $HANDOFF_TLS_CA).
            """)
    var tlsCA: String?

    /// The files to use, checked; nil when neither the options nor the environment name any (plaintext).
    /// - Throws: `TLSFilesError` for a certificate without its key, or a file that cannot be read.
    func files(forServer server: Bool) throws -> TLSFiles? {
        let environment = TLSFiles.fromEnvironment() ?? TLSFiles()
        let files = TLSFiles(
            certificateChain: tlsCert ?? environment.certificateChain, privateKey: tlsKey ?? environment.privateKey,
            trustRoots: tlsCA ?? environment.trustRoots)
        guard files != TLSFiles() else { return nil }
        return try files.validated(forServer: server)
    }
}
