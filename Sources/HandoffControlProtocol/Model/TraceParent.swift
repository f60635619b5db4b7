/// A W3C trace context `traceparent` value (`00-<trace id>-<parent id>-<flags>`), as requests and instructions
/// carry it. Values from the wire are checked here: a malformed one is dropped, which starts a new trace, as the
/// W3C specification asks, and never fails the message.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    /// The header value, 55 characters.
    public let value: String

    /// Nil unless `header` is a version-00 `traceparent`: 32 and 16 lowercase hex digits, neither all zeros, and
    /// two for the flags.
    public init?(_ header: String) {
        let utf8 = Array(header.utf8)
        guard utf8.count == 55, utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "0") else { return nil }
        for dash in [2, 35, 52] where utf8[dash] != UInt8(ascii: "-") { return nil }
        let traceID = utf8[3..<35]
        let parentID = utf8[36..<52]
        let flags = utf8[53..<55]
        let hex = { (byte: UInt8) in (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
        guard traceID.allSatisfy(hex), parentID.allSatisfy(hex), flags.allSatisfy(hex),
            traceID.contains(where: { $0 != UInt8(ascii: "0") }), parentID.contains(where: { $0 != UInt8(ascii: "0") })
        else { return nil }
        value = header
    }

    /// The 32 hex digits of the trace id.
    public var traceID: Substring { value.dropFirst(3).prefix(32) }

    public var description: String { value }

    /// `header` when it is a valid `traceparent`, else empty: what a wire decoder keeps.
    public static func checked(_ header: String) -> String { TraceParent(header)?.value ?? "" }
}
