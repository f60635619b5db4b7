import HandoffCore
import HandoffDataPlane

/// The deterministic KV content of a request: token block `i` of layer `l`, kind `k` holds
/// `BlockPattern(seed: contentSeed)` for block `i`, wherever in the pool it lives. Prefill writes it; decode
/// checks every byte of it after the pull.
public struct RequestContent: Sendable {
    public let pattern: BlockPattern

    public init(contentSeed: UInt64) { pattern = BlockPattern(seed: contentSeed) }

    /// Writes layer `layer` of the request into `blocks` (token order) of `pool`.
    public func write(layer: Int, blocks: [Int], into pool: LocalPool) {
        let layout = pool.layout
        pool.withRegion(layer) { region in
            for (index, block) in blocks.enumerated() {
                for kind in 0..<layout.geometry.kindsPerBlock {
                    let offset = layout.offset(kind: kind, block: block)
                    pattern.write(
                        layer: layer, kind: kind, block: index,
                        into: UnsafeMutableRawBufferPointer(
                            rebasing: region[offset..<offset + layout.geometry.pieceBytes]))
                }
            }
        }
    }

    /// The first piece of `blocks` in `pool` that does not hold the request's content, or nil when all do.
    public func firstMismatch(blocks: [Int], in pool: LocalPool) -> (layer: Int, kind: Int, tokenBlock: Int)? {
        let layout = pool.layout
        for layer in 0..<layout.regionCount {
            let mismatch: (Int, Int)? = pool.withRegion(layer) { region in
                for (index, block) in blocks.enumerated() {
                    for kind in 0..<layout.geometry.kindsPerBlock {
                        let offset = layout.offset(kind: kind, block: block)
                        let piece = UnsafeRawBufferPointer(
                            rebasing: region[offset..<offset + layout.geometry.pieceBytes])
                        if !pattern.matches(layer: layer, kind: kind, block: index, piece: piece) {
                            return (kind, index)
                        }
                    }
                }
                return nil
            }
            if let (kind, index) = mismatch { return (layer, kind, index) }
        }
        return nil
    }
}
