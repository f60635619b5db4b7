import Foundation

/// The shared secret every call carries as `authorization: Bearer <token>`.
public struct BearerToken: Sendable, Hashable {
    public let value: String

    /// The environment variable a token can come from.
    public static let environmentVariable = "HANDOFF_TOKEN"

    /// - Throws: `BearerTokenError.invalid` for a token shorter than 16 characters or with whitespace inside.
    public init(_ value: String) throws(BearerTokenError) {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 16, !trimmed.contains(where: \.isWhitespace) else {
            throw .invalid("a token must be at least 16 characters with no whitespace")
        }
        self.value = trimmed
    }

    /// The token from `file` if given, otherwise from `$HANDOFF_TOKEN`.
    ///
    /// - Throws: `BearerTokenError` when the file cannot be read, neither source has a token, or it is invalid.
    public static func load(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(BearerTokenError) -> BearerToken
    {
        if let file {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
            else {
                throw .unreadable(file)
            }
            return try BearerToken(text)
        }
        guard let text = environment[environmentVariable], !text.isEmpty else {
            throw .missing("no token: pass --token-file FILE or set \(environmentVariable)")
        }
        return try BearerToken(text)
    }

    /// A random 32-byte token, hex encoded (for demos and tests).
    public static func random() -> BearerToken {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<4).map { _ in
            let word = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - word.count) + word
        }.joined()
        return try! BearerToken(hex)  // 64 hex digits always pass validation
    }

    /// Whether `header` is `Bearer <this token>`, compared in constant time.
    package func accepts(header: String) -> Bool {
        let prefix = "Bearer "
        guard header.hasPrefix(prefix) else { return false }
        let offered = Array(header.utf8.dropFirst(prefix.utf8.count))
        let expected = Array(value.utf8)
        // Lengths compared whole (a length difference of 256 must not vanish in a byte), then every byte.
        var difference = offered.count == expected.count ? 0 : 1
        for index in 0..<expected.count {
            difference |= Int(expected[index] ^ (index < offered.count ? offered[index] : 0))
        }
        return difference == 0
    }
}

/// Why no usable token could be had.
public enum BearerTokenError: Error, Sendable, Hashable, CustomStringConvertible {
    case missing(String)
    case unreadable(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missing(let message), .invalid(let message): message
        case .unreadable(let file): "cannot read token file \(file)"
        }
    }
}
