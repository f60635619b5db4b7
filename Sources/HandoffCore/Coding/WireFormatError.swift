/// Why bytes received from a peer could not be decoded.
public enum WireFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input ended `needed` bytes short while reading `field`.
    case truncated(field: String, needed: Int, available: Int)
    /// The input does not start with the expected magic number: it is not this kind of message.
    case badMagic(expected: UInt32, found: UInt32)
    /// The message is of a format version this build does not speak.
    case unsupportedVersion(found: UInt16, supported: UInt16)
    /// A length or count is larger than this format allows.
    case lengthTooLarge(field: String, length: Int, limit: Int)
    /// A field holds a value that makes no sense (an unknown enum case, a zero where a count must be positive).
    case invalidValue(field: String, reason: String)
    /// Bytes remain after the message ended.
    case trailingBytes(Int)
    /// Text that should be base64 is not.
    case notBase64

    public var description: String {
        switch self {
        case .truncated(let field, let needed, let available):
            "truncated input: \(field) needs \(needed) bytes, \(available) left"
        case .badMagic(let expected, let found):
            "not a Handoff message: magic 0x\(String(found, radix: 16)), expected 0x\(String(expected, radix: 16))"
        case .unsupportedVersion(let found, let supported):
            "format version \(found) is not supported (this build speaks version \(supported))"
        case .lengthTooLarge(let field, let length, let limit):
            "\(field) of \(length) exceeds the limit of \(limit)"
        case .invalidValue(let field, let reason):
            "invalid \(field): \(reason)"
        case .trailingBytes(let count):
            "\(count) unexpected bytes after the end of the message"
        case .notBase64:
            "the text is not valid base64"
        }
    }
}
