/// Reads what `ByteWriter` wrote, checking every length against what is left and against a limit.
/// Field names are for errors only and are built only when one is thrown (they are often interpolated).
public struct ByteReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    /// Index of the next unread byte.
    public var position: Int { next }
    @usableFromInline var next = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Bytes not read yet.
    @inlinable
    public var remaining: Int { bytes.count - next }

    /// - Throws: `WireFormatError.truncated` when fewer than `MemoryLayout<T>.size` bytes remain.
    /// Inlinable, so that callers in other modules get it specialized for their `T` rather than generic per byte.
    @inlinable
    public mutating func read<T: FixedWidthInteger>(
        _: T.Type, _ field: @autoclosure () -> String
    ) throws(WireFormatError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field: field(), needed: size, available: remaining) }
        var value = T.zero
        for index in 0..<size { value |= T(bytes[next + index]) << (8 * index) }
        next += size
        return value
    }

    /// Reads a 32-bit length, then that many bytes.
    /// - Throws: `WireFormatError` when the length exceeds `limit` or what remains.
    public mutating func readLengthPrefixed(
        _ field: @autoclosure () -> String, limit: Int
    ) throws(WireFormatError) -> [UInt8] {
        let length = Int(try read(UInt32.self, "\(field()) length"))
        guard length <= limit else { throw .lengthTooLarge(field: field(), length: length, limit: limit) }
        guard remaining >= length else { throw .truncated(field: field(), needed: length, available: remaining) }
        defer { next += length }
        return Array(bytes[next..<next + length])
    }

    /// Reads a length-prefixed UTF-8 string.
    public mutating func readString(_ field: @autoclosure () -> String, limit: Int) throws(WireFormatError) -> String {
        let data = try readLengthPrefixed(field(), limit: limit)
        guard let string = String(validating: data, as: UTF8.self) else {
            throw .invalidValue(field: field(), reason: "not UTF-8")
        }
        return string
    }

    /// - Throws: `WireFormatError.trailingBytes` when anything is left.
    public func expectEnd() throws(WireFormatError) {
        if remaining != 0 { throw .trailingBytes(remaining) }
    }
}
