import Foundation
import HandoffCore

/// What a shared-memory descriptor carries besides the regions: the serving process (pid and start time, so that
/// a reused pid is noticed) and its memfd spans. Each region's remote key names its span and offset.
struct SharedMemoryOffer: Sendable, Hashable {
    struct Span: Sendable, Hashable {
        /// The memfd's number in the serving process.
        var descriptor: Int32
        var length: UInt64
    }

    static let maxSpans = 1 << 16

    var pid: Int32
    /// Clock ticks after boot when the process started (/proc/PID/stat, field 22).
    var startTime: UInt64
    /// Random per pool and part of its memfds' names, so that a stale descriptor whose descriptor numbers were
    /// reused by a later pool maps nothing.
    var nonce: UInt64
    var spans: [Span]

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(UInt32(bitPattern: pid))
        writer.write(startTime)
        writer.write(nonce)
        writer.write(UInt32(spans.count))
        for span in spans {
            writer.write(UInt32(bitPattern: span.descriptor))
            writer.write(span.length)
        }
        return writer.bytes
    }

    init(pid: Int32, startTime: UInt64, nonce: UInt64, spans: [Span]) {
        self.pid = pid
        self.startTime = startTime
        self.nonce = nonce
        self.spans = spans
    }

    init(decoding bytes: [UInt8]) throws(WireFormatError) {
        var reader = ByteReader(bytes)
        pid = Int32(bitPattern: try reader.read(UInt32.self, "pid"))
        startTime = try reader.read(UInt64.self, "start time")
        nonce = try reader.read(UInt64.self, "nonce")
        let count = Int(try reader.read(UInt32.self, "span count"))
        guard count > 0, count <= Self.maxSpans else {
            throw .lengthTooLarge(field: "span count", length: count, limit: Self.maxSpans)
        }
        spans = []
        for _ in 0..<count {
            let descriptor = Int32(bitPattern: try reader.read(UInt32.self, "span descriptor"))
            let length = try reader.read(UInt64.self, "span length")
            guard descriptor >= 0, length > 0, length <= 1 << 56 else {
                throw .invalidValue(field: "span", reason: "descriptor \(descriptor), \(length) bytes")
            }
            spans.append(Span(descriptor: descriptor, length: length))
        }
        try reader.expectEnd()
    }

    /// A region's remote key: its span and offset.
    static func remoteKey(_ placement: SharedRegions.Placement) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(UInt32(placement.span))
        writer.write(UInt64(placement.offset))
        return writer.bytes
    }

    /// The placement a region's remote key names, checked against the spans: the region lies inside its span.
    func placement(of region: PoolDescriptor.Region, index: Int) throws(WireFormatError) -> SharedRegions.Placement {
        var reader = ByteReader(region.remoteKey)
        let span = Int(try reader.read(UInt32.self, "region \(index) span"))
        let offset = try reader.read(UInt64.self, "region \(index) offset")
        try reader.expectEnd()
        guard span < spans.count, offset <= spans[span].length, region.length <= spans[span].length - offset else {
            throw .invalidValue(field: "region \(index)", reason: "outside its shared span")
        }
        return SharedRegions.Placement(span: span, offset: Int(offset))
    }

    /// When process `pid` started, in clock ticks after boot; nil when it does not exist.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let text = readProcFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, starttime field 22.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}
