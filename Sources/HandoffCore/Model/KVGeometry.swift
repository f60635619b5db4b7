/// The shape of one block of KV cache, independent of how a pool arranges blocks in memory.
///
/// A block holds `blockTokens` tokens. In every layer it has `kindsPerBlock` pieces (K and V, or one MLA latent),
/// each `pieceBytes` long and contiguous in memory. Two pools can exchange blocks exactly when their geometries
/// are equal; their arrangement and block counts may differ.
public struct KVGeometry: Sendable, Hashable, Codable {
    /// vLLM's default block size in tokens.
    public static let defaultBlockTokens = 16

    /// Number of layers, each with its own memory region.
    public var layers: Int
    /// Pieces per block and layer: 2 (K, V) or 1 (MLA latent).
    public var kindsPerBlock: Int
    /// Bytes of one piece: one block's K (or V, or latent) in one layer.
    public var pieceBytes: Int

    public init(layers: Int, kindsPerBlock: Int, pieceBytes: Int) {
        self.layers = layers
        self.kindsPerBlock = kindsPerBlock
        self.pieceBytes = pieceBytes
    }

    /// Bytes one block occupies across all layers and kinds.
    public var blockBytes: Int { layers * kindsPerBlock * pieceBytes }

    /// The most layers a geometry may have (no model comes near; bounds what a peer's description can ask for).
    public static let maxLayers = 65_536
    /// The largest piece: 1 TiB.
    public static let maxPieceBytes = 1 << 40

    /// Checks that every dimension is positive and within `maxLayers` and `maxPieceBytes`, so that the products
    /// derived from them (block bytes, offsets) cannot overflow.
    /// - Throws: `KVModelError.invalidGeometry` naming the bad dimension.
    public func validate() throws(KVModelError) {
        if layers <= 0 || layers > Self.maxLayers {
            throw .invalidGeometry("layers must be 1 to \(Self.maxLayers), got \(layers)")
        }
        if kindsPerBlock != 1 && kindsPerBlock != 2 {
            throw .invalidGeometry("kinds per block must be 1 or 2, got \(kindsPerBlock)")
        }
        if pieceBytes <= 0 || pieceBytes > Self.maxPieceBytes {
            throw .invalidGeometry("piece bytes must be 1 to 2^40, got \(pieceBytes)")
        }
    }
}
