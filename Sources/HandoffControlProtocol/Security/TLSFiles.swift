import Foundation

/// PEM files for TLS on Handoff's gRPC control plane: this side's certificate chain and private key, and the CA
/// bundle the other side's certificate must chain to.
///
/// - A coordinator needs a certificate and key; with `trustRoots` it also requires every client to present a
///   certificate signed by those roots (mutual TLS).
/// - A client (worker, router, CLI, engine) verifies the coordinator's certificate and host name against
///   `trustRoots` (the system's roots when nil), and presents its own certificate and key when given.
public struct TLSFiles: Sendable, Hashable {
    /// This side's certificate chain, leaf first.
    public var certificateChain: String?
    public var privateKey: String?
    /// The CA certificates the peer's certificate must chain to.
    public var trustRoots: String?

    /// Environment variables each file can come from, for processes started by an engine (the C API, Python).
    public static let certificateVariable = "HANDOFF_TLS_CERT"
    public static let privateKeyVariable = "HANDOFF_TLS_KEY"
    public static let trustRootsVariable = "HANDOFF_TLS_CA"

    public init(certificateChain: String? = nil, privateKey: String? = nil, trustRoots: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
    }

    /// The files named by `HANDOFF_TLS_CERT`, `HANDOFF_TLS_KEY` and `HANDOFF_TLS_CA`; nil when none is set.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> TLSFiles? {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let files = TLSFiles(
            certificateChain: value(certificateVariable), privateKey: value(privateKeyVariable),
            trustRoots: value(trustRootsVariable))
        return files == TLSFiles() ? nil : files
    }

    /// These files, checked: certificate and key come together (and a server has them), and every file named can
    /// be read and holds PEM.
    ///
    /// - Throws: `TLSFilesError` naming the file or the missing half.
    public func validated(forServer server: Bool) throws(TLSFilesError) -> TLSFiles {
        switch (certificateChain, privateKey) {
        case (nil, nil) where server:
            throw .incomplete("a TLS server needs a certificate chain and a private key (--tls-cert, --tls-key)")
        case (.some, nil), (nil, .some):
            throw .incomplete("a certificate and its private key go together (--tls-cert with --tls-key)")
        default:
            break
        }
        for file in [certificateChain, privateKey, trustRoots].compactMap({ $0 }) {
            guard let data = FileManager.default.contents(atPath: file) else { throw .unreadable(file) }
            guard String(decoding: data, as: UTF8.self).contains("-----BEGIN ") else { throw .notPEM(file) }
        }
        return self
    }
}

/// Why TLS files cannot be used.
public enum TLSFilesError: Error, Sendable, Equatable, CustomStringConvertible {
    case incomplete(String)
    case unreadable(String)
    case notPEM(String)

    public var description: String {
        switch self {
        case .incomplete(let reason): reason
        case .unreadable(let file): "cannot read TLS file \(file)"
        case .notPEM(let file): "TLS file \(file) holds no PEM block"
        }
    }
}
