/// A `HOST:PORT` network address as people write it: an IPv4 literal, a DNS name (a Kubernetes Service name such
/// as `coordinator.handoff.svc`), or an IPv6 literal in brackets (`[::1]:50051`).
///
/// This is the one parser of such addresses; the command line, coordinator addresses and peers use it.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// The host: an IPv4 literal, a DNS name, or an IPv6 literal without brackets.
    public var host: String
    /// The port, 0...65535 (0 only where a listener lets the kernel choose).
    public var port: Int

    /// An address from parts already checked by the caller.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPV6]:PORT`.
    ///
    /// - Parameters:
    ///   - defaultHost: the host when the text leaves it out (`:7470`); nil makes a missing host an error.
    ///   - allowsPortZero: whether port 0 (the kernel's choice, for listeners) is accepted.
    /// - Throws: `HostPortError` naming what is wrong with the text.
    public init(parsing text: String, defaultHost: String? = nil, allowsPortZero: Bool = false) throws(HostPortError) {
        guard text.utf8.count <= 300 else {
            throw .init(text: String(text.prefix(40)) + "…", reason: "longer than 300 bytes")
        }
        guard let colon = text.lastIndex(of: ":") else { throw .init(text: text, reason: "expected HOST:PORT") }
        let portText = text[text.index(after: colon)...]
        guard let port = Int(portText), (allowsPortZero ? 0 : 1)...65535 ~= port else {
            throw .init(text: text, reason: "the port must be a number in \(allowsPortZero ? 0 : 1)...65535")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw .init(text: text, reason: "unclosed IPv6 bracket") }
            host = String(host.dropFirst().dropLast())
            guard host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw .init(text: text, reason: "not an IPv6 literal inside the brackets")
            }
        } else if host.isEmpty {
            guard let defaultHost else { throw .init(text: text, reason: "the host is missing") }
            host = defaultHost
        } else {
            guard host.contains(where: { $0 == ":" }) == false else {
                throw .init(text: text, reason: "write an IPv6 address in brackets: [ADDRESS]:PORT")
            }
            guard Self.isHostName(host) else {
                throw .init(text: text, reason: "'\(host)' is neither an IPv4 address nor a DNS name")
            }
        }
        self.init(host: host, port: port)
    }

    /// Whether the host is an IPv4 literal (`10.0.0.5`).
    public var isIPv4Literal: Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                    && (Int(part) ?? 256) <= 255
            }
    }

    /// Whether the host is an IPv6 literal (written in brackets in the text form).
    public var isIPv6Literal: Bool { host.contains(":") }

    /// `HOST:PORT`, with an IPv6 host in brackets.
    public var description: String { isIPv6Literal ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Letters, digits, hyphens, underscores and dots in labels of 1 to 63 characters: DNS names and IPv4 literals.
    private static func isHostName(_ host: String) -> Bool {
        guard host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                        || byte == 0x2D || byte == 0x5F
                }
        }
    }
}

/// Text that is not a `HOST:PORT` address.
public struct HostPortError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text as given.
    public var text: String
    /// What is wrong with it.
    public var reason: String

    public init(text: String, reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "\"\(text)\" is not a HOST:PORT address: \(reason)" }
}
