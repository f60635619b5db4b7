import Foundation

/// Throw-away certificates for TLS tests, made with the `openssl` command in a fresh temporary directory: a CA,
/// a server certificate for 127.0.0.1 and localhost and one for another name, a client certificate, all signed by
/// the CA, and a second,
/// unrelated CA with a client certificate of its own. P-256 keys, valid for a day.
public struct TestCertificates: Sendable {
    public let directory: String

    public var caCertificate: String { directory + "/ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    /// A server certificate from the CA that names only `elsewhere.invalid`.
    public var misnamedServerCertificate: String { directory + "/misnamed.pem" }
    public var misnamedServerKey: String { directory + "/misnamed.key" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    /// A CA that signed neither the server's nor the client's certificate.
    public var otherCACertificate: String { directory + "/other-ca.pem" }
    /// A client certificate signed by the other CA.
    public var strangerCertificate: String { directory + "/stranger.pem" }
    public var strangerKey: String { directory + "/stranger.key" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs openssl on a thread of its own (some twenty commands: a second or more on a loaded machine).
    /// - Throws: `Failure` with openssl's output when a step fails (no `openssl` installed, among others).
    public static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("handoff-tls-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(directory)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            ca() { key "$1.key"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 1 -subj "/CN=$1"; }
            leaf() {  # name, CA, subjectAltName
                key "$1.key"
                openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
                printf 'subjectAltName=%s\\n' "$3" > "$1.ext"
                openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 1 \\
                    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
            }
            ca ca
            ca other-ca
            leaf server ca 'IP:127.0.0.1,DNS:localhost'
            leaf misnamed ca 'DNS:elsewhere.invalid'
            leaf client ca 'DNS:client'
            leaf stranger other-ca 'DNS:stranger'
            """
        let (status, text) = try await runCommandOnOwnThread("/bin/sh", ["-c", script])
        guard status == 0 else { throw Failure(description: "openssl failed: \(text)") }
        return TestCertificates(directory: directory)
    }

    /// Deletes the directory.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
