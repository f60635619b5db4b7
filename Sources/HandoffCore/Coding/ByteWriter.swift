/// Appends little-endian integers and length-prefixed byte strings to a growing buffer.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Writes a 32-bit length, then the bytes.
    public mutating func writeLengthPrefixed(_ data: [UInt8]) {
        write(UInt32(data.count))
        bytes.append(contentsOf: data)
    }

    /// Writes a string as length-prefixed UTF-8.
    public mutating func writeString(_ string: String) {
        writeLengthPrefixed(Array(string.utf8))
    }
}
