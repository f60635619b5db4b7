/// How a pool arranges the pieces of its blocks inside each layer's region, as vLLM's attention backends do.
public enum KVArrangement: String, Sendable, Hashable, Codable, CaseIterable {
    /// `[2, num_blocks, block_size, heads, dim]` per layer (FlashAttention): all K blocks, then all V blocks.
    case split
    /// `[num_blocks, 2, block_size, heads, dim]` per layer (FlashInfer): K and V of one block adjacent.
    case fused
}

/// A pool's KV cache in memory: one region per layer holding `numBlocks` blocks of `geometry`.
public struct KVLayout: Sendable, Hashable, Codable {
    /// The shape of one block.
    public var geometry: KVGeometry
    /// Blocks the pool holds; valid block ids are `0..<numBlocks`.
    public var numBlocks: Int
    /// Where K and V pieces sit inside a layer's region.
    public var arrangement: KVArrangement

    /// - Throws: `KVModelError` when a dimension is not positive.
    public init(geometry: KVGeometry, numBlocks: Int, arrangement: KVArrangement = .split) throws(KVModelError) {
        try geometry.validate()
        guard numBlocks > 0 else { throw .invalidGeometry("a pool needs at least one block, got \(numBlocks)") }
        self.geometry = geometry
        self.numBlocks = numBlocks
        self.arrangement = arrangement
    }

    /// Number of memory regions: one per layer.
    public var regionCount: Int { geometry.layers }

    /// Bytes of one layer's region.
    public var regionBytes: Int { geometry.kindsPerBlock * numBlocks * geometry.pieceBytes }

    /// Bytes of the whole pool.
    public var totalBytes: Int { regionCount * regionBytes }

    /// Byte offset, inside its layer's region, of `kind` (0 = K or latent, 1 = V) of `block`.
    @inlinable
    public func offset(kind: Int, block: Int) -> Int {
        switch arrangement {
        case .split: (kind * numBlocks + block) * geometry.pieceBytes
        case .fused: (block * geometry.kindsPerBlock + kind) * geometry.pieceBytes
        }
    }
}
