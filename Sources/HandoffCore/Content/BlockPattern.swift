/// Deterministic block content: fills a pool so that every piece (layer, kind, block) holds bytes no other piece
/// holds, and checks a pool against what a list of block moves should have produced.
///
/// Tests, benchmarks and simulated engines use it to prove a transfer moved exactly the right bytes.
public struct BlockPattern: Sendable, Hashable {
    /// Varies the content between runs or requests.
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// The first 8 bytes of the piece; word `i` of the piece is `base &+ i &* step`.
    @inlinable
    public func base(layer: Int, kind: Int, block: Int) -> UInt64 {
        var z =
            seed &+ UInt64(truncatingIfNeeded: layer) << 40 &+ UInt64(truncatingIfNeeded: kind) << 32
            &+ UInt64(truncatingIfNeeded: block) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @usableFromInline static let step: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// Writes the content of `block`'s `kind` piece of `layer` into `piece` (which must be one piece long).
    @inlinable
    public func write(layer: Int, kind: Int, block: Int, into piece: UnsafeMutableRawBufferPointer) {
        var word = base(layer: layer, kind: kind, block: block)
        let words = piece.count / 8
        for index in 0..<words {
            piece.storeBytes(of: word, toByteOffset: index * 8, as: UInt64.self)
            word &+= Self.step
        }
        for index in (words * 8)..<piece.count { piece[index] = UInt8(truncatingIfNeeded: word >> (index % 8 * 8)) }
    }

    /// Whether `piece` holds exactly the content of `block`'s `kind` piece of `layer`.
    @inlinable
    public func matches(layer: Int, kind: Int, block: Int, piece: UnsafeRawBufferPointer) -> Bool {
        var word = base(layer: layer, kind: kind, block: block)
        let words = piece.count / 8
        for index in 0..<words {
            if piece.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != word { return false }
            word &+= Self.step
        }
        for index in (words * 8)..<piece.count where piece[index] != UInt8(truncatingIfNeeded: word >> (index % 8 * 8))
        {
            return false
        }
        return true
    }

    /// Fills every block of `layer`'s region, laid out by `layout`, with its own content.
    public func fill(region: UnsafeMutableRawBufferPointer, layout: KVLayout, layer: Int) {
        precondition(region.count >= layout.regionBytes, "region smaller than the layout's region")
        let pieceBytes = layout.geometry.pieceBytes
        for block in 0..<layout.numBlocks {
            for kind in 0..<layout.geometry.kindsPerBlock {
                let offset = layout.offset(kind: kind, block: block)
                write(
                    layer: layer, kind: kind, block: block,
                    into: UnsafeMutableRawBufferPointer(rebasing: region[offset..<offset + pieceBytes]))
            }
        }
    }

    /// The first destination block in `layer`'s region whose pieces do not hold the content of the source block
    /// it was given, or nil when every moved block matches. `moves` pairs source and destination block ids.
    public func firstMismatch(
        region: UnsafeRawBufferPointer, layout: KVLayout, layer: Int, moves: [(source: Int, destination: Int)]
    ) -> (source: Int, destination: Int, kind: Int)? {
        precondition(region.count >= layout.regionBytes, "region smaller than the layout's region")
        let pieceBytes = layout.geometry.pieceBytes
        for move in moves {
            for kind in 0..<layout.geometry.kindsPerBlock {
                let offset = layout.offset(kind: kind, block: move.destination)
                let piece = UnsafeRawBufferPointer(rebasing: region[offset..<offset + pieceBytes])
                if !matches(layer: layer, kind: kind, block: move.source, piece: piece) {
                    return (move.source, move.destination, kind)
                }
            }
        }
        return nil
    }
}
