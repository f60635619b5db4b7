import HandoffCore
import Testing

@Suite("Block content pattern")
struct BlockPatternTests {
    @Test("a filled region matches itself and no other block", arguments: KVArrangement.allCases)
    func filledRegionMatches(arrangement: KVArrangement) throws {
        let layout = try KVLayout(
            geometry: KVGeometry(layers: 2, kindsPerBlock: 2, pieceBytes: 44), numBlocks: 6, arrangement: arrangement)
        let pattern = BlockPattern(seed: 9)
        let region = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.regionBytes, alignment: 8)
        defer { region.deallocate() }
        pattern.fill(region: region, layout: layout, layer: 1)
        let identity = (0..<6).map { (source: $0, destination: $0) }
        #expect(
            pattern.firstMismatch(region: UnsafeRawBufferPointer(region), layout: layout, layer: 1, moves: identity)
                == nil)
        #expect(
            pattern.firstMismatch(region: UnsafeRawBufferPointer(region), layout: layout, layer: 0, moves: identity)
                != nil)
        let swapped = [(source: 1, destination: 2)]
        #expect(
            pattern.firstMismatch(region: UnsafeRawBufferPointer(region), layout: layout, layer: 1, moves: swapped)!
                == (1, 2, 0))
        // One flipped byte in the tail of a piece is found.
        region[layout.offset(kind: 1, block: 4) + 43] ^= 0x01
        #expect(
            pattern.firstMismatch(region: UnsafeRawBufferPointer(region), layout: layout, layer: 1, moves: identity)!
                == (4, 4, 1))
    }
}
