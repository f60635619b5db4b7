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

    /// The most blocks a pool may have: block ids travel as 32-bit numbers.
    public static let maxBlocks = 1 << 32
    /// The largest pool: 2^56 bytes, so that every size and offset derived from a layout fits an `Int`.
    public static let maxTotalBytes = 1 << 56

    /// - Throws: `KVModelError` when a dimension is not positive or out of range, or the pool would exceed
    ///   `maxTotalBytes`.
    public init(geometry: KVGeometry, numBlocks: Int, arrangement: KVArrangement = .split) throws(KVModelError) {
        try geometry.validate()
        guard numBlocks > 0, numBlocks <= Self.maxBlocks else {
            throw .invalidGeometry("a pool needs 1 to 2^32 blocks, got \(numBlocks)")
        }
        var total = geometry.pieceBytes
        for factor in [geometry.kindsPerBlock, numBlocks, geometry.layers] {
            let (product, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow, product <= Self.maxTotalBytes else {
                throw .invalidGeometry("a pool of that layout would exceed 2^56 bytes")
            }
            total = product
        }
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
