import HandoffCore

/// The frames of Handoff's native TCP data plane, all little-endian, and their limits.
///
/// A client opens a connection with a `Hello` naming the pool and its key; the server answers with a
/// `Response` (request id 0). Then each request is a `RequestHeader` (with the token of the grant it falls
/// under, or 0), `rangeCount` ranges of the server's pool,
/// and for a write or a notification `payloadBytes` of data; each answer is a `Response` header, an error
/// message of `messageBytes`, and for a successful read `payloadBytes` of data, the ranges' bytes in order.
/// Decoding never trusts a length: every count and size is checked against the limits below before anything
/// is allocated or read.
enum TCPWire {
    static let magic: UInt32 = 0x4854_4350  // bytes "PCTH" on the wire
    static let version: UInt16 = 2
    /// Ranges in one request.
    static let maxRanges = 16_384
    /// Data bytes in one request or response.
    static let maxPayloadBytes = 1 << 30
    /// Bytes of an error message.
    static let maxMessageBytes = 1024

    static let helloBytes = 32
    static let requestHeaderBytes = 32
    static let rangeBytes = 16
    static let responseHeaderBytes = 24

    struct Hello: Equatable {
        var pool: UInt64
        var key: UInt64
        /// The client transport's agent id, the sender of its notifications.
        var agent: UInt64
    }

    enum RequestKind: UInt8 {
        case read = 1
        case write = 2
        case notify = 3
    }

    struct RequestHeader: Equatable {
        var kind: RequestKind
        var rangeCount: Int
        var requestID: UInt64
        var payloadBytes: Int
        /// The token of the grant the ranges fall under; 0 for none.
        var grant: UInt64 = 0
    }

    /// Bytes of one region of the serving pool.
    struct Range: Equatable {
        var region: Int
        var offset: Int
        var length: Int
    }

    struct Response: Equatable {
        var requestID: UInt64
        /// 0: done; otherwise the request was refused (see `Status`).
        var status: UInt32
        var messageBytes: Int
        var payloadBytes: Int
    }

    enum Status: UInt32 {
        case ok = 0
        case refused = 1
    }

    // MARK: Encoding

    static func encode(_ hello: Hello) -> [UInt8] {
        var writer = ByteWriter(capacity: helloBytes)
        writer.write(magic)
        writer.write(version)
        writer.write(UInt16(0))
        writer.write(hello.pool)
        writer.write(hello.key)
        writer.write(hello.agent)
        return writer.bytes
    }

    static func encode(_ header: RequestHeader, ranges: [Range]) -> [UInt8] {
        var writer = ByteWriter(capacity: requestHeaderBytes + ranges.count * rangeBytes)
        writer.write(header.kind.rawValue)
        writer.write(UInt8(0))
        writer.write(UInt16(0))
        writer.write(UInt32(header.rangeCount))
        writer.write(header.requestID)
        writer.write(UInt64(header.payloadBytes))
        writer.write(header.grant)
        for range in ranges {
            writer.write(UInt32(range.region))
            writer.write(UInt32(range.length))
            writer.write(UInt64(range.offset))
        }
        return writer.bytes
    }

    static func encode(_ response: Response) -> [UInt8] {
        var writer = ByteWriter(capacity: responseHeaderBytes)
        writer.write(response.requestID)
        writer.write(response.status)
        writer.write(UInt32(response.messageBytes))
        writer.write(UInt64(response.payloadBytes))
        return writer.bytes
    }

    // MARK: Decoding

    /// - Throws: `WireFormatError` for a wrong magic or version, or the wrong size.
    static func decodeHello(_ bytes: [UInt8]) throws(WireFormatError) -> Hello {
        var reader = ByteReader(bytes)
        let found = try reader.read(UInt32.self, "magic")
        guard found == magic else {
            throw .invalidValue(field: "magic", reason: "0x\(String(found, radix: 16)) is not a Handoff TCP hello")
        }
        let foundVersion = try reader.read(UInt16.self, "version")
        guard foundVersion == version else {
            throw .invalidValue(field: "version", reason: "\(foundVersion), this side speaks \(version)")
        }
        _ = try reader.read(UInt16.self, "reserved")
        let hello = Hello(
            pool: try reader.read(UInt64.self, "pool"), key: try reader.read(UInt64.self, "key"),
            agent: try reader.read(UInt64.self, "agent"))
        try reader.expectEnd()
        return hello
    }

    /// - Throws: `WireFormatError` for an unknown kind, or a count or size over the limits.
    static func decodeRequestHeader(_ bytes: [UInt8]) throws(WireFormatError) -> RequestHeader {
        var reader = ByteReader(bytes)
        let rawKind = try reader.read(UInt8.self, "kind")
        guard let kind = RequestKind(rawValue: rawKind) else {
            throw .invalidValue(field: "kind", reason: "unknown request kind \(rawKind)")
        }
        _ = try reader.read(UInt8.self, "reserved")
        _ = try reader.read(UInt16.self, "reserved")
        let count = Int(try reader.read(UInt32.self, "range count"))
        let requestID = try reader.read(UInt64.self, "request id")
        let payload = try reader.read(UInt64.self, "payload bytes")
        let grant = try reader.read(UInt64.self, "grant")
        try reader.expectEnd()
        let rangeLimit = kind == .notify ? 0 : maxRanges
        guard count <= rangeLimit else { throw .lengthTooLarge(field: "range count", length: count, limit: rangeLimit) }
        if kind != .notify && count == 0 {
            throw .invalidValue(field: "range count", reason: "a transfer request names no range")
        }
        let payloadLimit = kind == .notify ? maxNotificationBytes : maxPayloadBytes
        guard payload <= UInt64(payloadLimit) else {
            throw .lengthTooLarge(field: "payload bytes", length: Int(clamping: payload), limit: payloadLimit)
        }
        return RequestHeader(
            kind: kind, rangeCount: count, requestID: requestID, payloadBytes: Int(payload), grant: grant)
    }

    /// Decodes `count` ranges and checks that their lengths add up to `payloadBytes`.
    /// - Throws: `WireFormatError` for the wrong size, an empty range or a total that does not match.
    static func decodeRanges(_ bytes: [UInt8], count: Int, payloadBytes: Int) throws(WireFormatError) -> [Range] {
        guard bytes.count == count * rangeBytes else {
            throw .truncated(field: "ranges", needed: count * rangeBytes, available: bytes.count)
        }
        var reader = ByteReader(bytes)
        var ranges: [Range] = []
        ranges.reserveCapacity(count)
        var total = 0
        for _ in 0..<count {
            let region = Int(try reader.read(UInt32.self, "range region"))
            let length = Int(try reader.read(UInt32.self, "range length"))
            let offset = try reader.read(UInt64.self, "range offset")
            guard length > 0 else { throw .invalidValue(field: "range length", reason: "empty range") }
            guard offset <= UInt64(Int.max) else {
                throw .invalidValue(field: "range offset", reason: "\(offset) is out of any region")
            }
            total += length  // at most maxRanges × UInt32.max: no overflow
            ranges.append(Range(region: region, offset: Int(offset), length: length))
        }
        guard total == payloadBytes else {
            throw .invalidValue(
                field: "payload bytes", reason: "\(payloadBytes) declared, the ranges add up to \(total)")
        }
        return ranges
    }

    /// - Throws: `WireFormatError` for the wrong size or a message or payload over the limits.
    static func decodeResponse(_ bytes: [UInt8]) throws(WireFormatError) -> Response {
        var reader = ByteReader(bytes)
        let requestID = try reader.read(UInt64.self, "request id")
        let status = try reader.read(UInt32.self, "status")
        let message = Int(try reader.read(UInt32.self, "message bytes"))
        let payload = try reader.read(UInt64.self, "payload bytes")
        try reader.expectEnd()
        guard message <= maxMessageBytes else {
            throw .lengthTooLarge(field: "message bytes", length: message, limit: maxMessageBytes)
        }
        guard payload <= UInt64(maxPayloadBytes) else {
            throw .lengthTooLarge(field: "payload bytes", length: Int(clamping: payload), limit: maxPayloadBytes)
        }
        return Response(requestID: requestID, status: status, messageBytes: message, payloadBytes: Int(payload))
    }
}
