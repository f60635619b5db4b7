import HandoffCore
import Testing

@Suite("Wire coding")
struct ByteReaderTests {
    @Test("what ByteWriter writes, ByteReader reads back")
    func roundTrip() throws {
        var writer = ByteWriter()
        writer.write(UInt32(0xDEAD_BEEF))
        writer.write(UInt8(7))
        writer.writeString("héllo")
        writer.writeLengthPrefixed([1, 2, 3])
        var reader = ByteReader(writer.bytes)
        #expect(try reader.read(UInt32.self, "a") == 0xDEAD_BEEF)
        #expect(try reader.read(UInt8.self, "b") == 7)
        #expect(try reader.readString("c", limit: 16) == "héllo")
        #expect(try reader.readLengthPrefixed("d", limit: 3) == [1, 2, 3])
        try reader.expectEnd()
    }

    @Test("short input, oversized lengths and trailing bytes are errors")
    func hostileInput() throws {
        var short = ByteReader([1, 2])
        #expect(throws: WireFormatError.truncated(field: "x", needed: 4, available: 2)) {
            try short.read(UInt32.self, "x")
        }
        var huge = ByteReader([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: WireFormatError.lengthTooLarge(field: "k", length: 0xFFFF_FFFF, limit: 64)) {
            try huge.readLengthPrefixed("k", limit: 64)
        }
        var lying = ByteReader([10, 0, 0, 0, 1])
        #expect(throws: WireFormatError.truncated(field: "k", needed: 10, available: 1)) {
            try lying.readLengthPrefixed("k", limit: 64)
        }
        var notUTF8 = ByteReader([2, 0, 0, 0, 0xC3, 0x28])
        #expect(throws: WireFormatError.self) { try notUTF8.readString("s", limit: 8) }
        #expect(throws: WireFormatError.trailingBytes(2)) { try ByteReader([1, 2]).expectEnd() }
    }
}
