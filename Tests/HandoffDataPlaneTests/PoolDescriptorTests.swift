import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Testing

@Suite("Pool descriptors")
struct PoolDescriptorTests {
    static func sample() throws -> PoolDescriptor {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 4, arrangement: .fused)
        return PoolDescriptor(
            transport: "ucx", agent: 0xABCD, host: "host-a", transportAddress: Array(repeating: 0x11, count: 40),
            memoryType: .host, layout: layout,
            regions: (0..<layout.regionCount).map {
                .init(
                    address: 0x1000 * UInt64($0 + 1), length: UInt64(layout.regionBytes), remoteKey: [UInt8($0), 2, 3])
            })
    }

    @Test("a descriptor survives encoding, in binary and in text")
    func roundTrip() throws {
        let descriptor = try Self.sample()
        #expect(try PoolDescriptor(decoding: descriptor.encoded()) == descriptor)
        #expect(try PoolDescriptor(decodingText: descriptor.encodedText()) == descriptor)
    }

    @Test("a layout whose pool size overflows (65,536 layers of 2^48-byte regions) is a typed error, not a trap")
    func overflowingLayout() throws {
        var writer = ByteWriter()
        writer.write(UInt32(0x4846_4450))  // PoolDescriptor's magic
        writer.write(PoolDescriptor.formatVersion)
        writer.writeString("tcp")
        writer.write(UInt64(1))
        writer.writeString("host")
        writer.writeLengthPrefixed([])
        writer.write(UInt8(0))  // host memory
        writer.write(UInt32(65_536))  // layers
        writer.write(UInt8(1))  // kinds per block
        writer.write(UInt64(1 << 40))  // piece bytes
        writer.write(UInt64(256))  // blocks: 2^48 bytes per region
        writer.write(UInt8(0))
        writer.write(UInt32(65_536))
        #expect(throws: DataPlaneError.self) { try PoolDescriptor(decoding: writer.bytes) }
    }

    @Test("every truncation of a descriptor is a typed error")
    func truncated() throws {
        let bytes = try Self.sample().encoded()
        for length in 0..<bytes.count {
            #expect(throws: DataPlaneError.self) { try PoolDescriptor(decoding: Array(bytes.prefix(length))) }
        }
    }

    @Test("corrupted descriptors decode to a descriptor or a typed error, never a crash")
    func corrupted() throws {
        let bytes = try Self.sample().encoded()
        var generator = SplitMix64(seed: 3)
        for _ in 0..<2_000 {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(
                    in: 0...255, using: &generator)
            }
            _ = try? PoolDescriptor(decoding: mutated)
        }
        // Random bytes behind a valid header.
        for _ in 0..<500 {
            let noise = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            #expect(throws: DataPlaneError.self) { try PoolDescriptor(decoding: Array(bytes.prefix(6)) + noise) }
        }
    }

    @Test("another format version, another magic, trailing bytes and non-base64 text are refused")
    func refused() throws {
        let bytes = try Self.sample().encoded()
        var otherVersion = bytes
        otherVersion[4] = 2
        #expect(throws: DataPlaneError.invalidDescriptor(.unsupportedVersion(found: 2, supported: 1))) {
            try PoolDescriptor(decoding: otherVersion)
        }
        var otherMagic = bytes
        otherMagic[0] ^= 0xFF
        #expect(throws: DataPlaneError.self) { try PoolDescriptor(decoding: otherMagic) }
        #expect(throws: DataPlaneError.invalidDescriptor(.trailingBytes(1))) {
            try PoolDescriptor(decoding: bytes + [0])
        }
        #expect(throws: DataPlaneError.invalidDescriptor(.notBase64)) {
            try PoolDescriptor(decodingText: "not base64 !!")
        }
    }

    @Test("a region shorter than the layout needs is refused")
    func shortRegion() throws {
        var descriptor = try Self.sample()
        descriptor.regions[1].length -= 1
        #expect(throws: DataPlaneError.self) { try PoolDescriptor(decoding: descriptor.encoded()) }
    }
}
