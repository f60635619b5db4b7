import HandoffCore

/// What a worker declares about its KV pool: the model it serves and how the pool is laid out.
///
/// The coordinator checks it against the model preset (when the model is a known preset) and against the
/// data-plane descriptor, and derives the compatibility hash from it.
public struct KVLayoutSpec: Sendable, Hashable {
    public var model: String
    public var dtypeBytes: Int
    public var layers: Int
    /// 2 (K and V) for multi-head attention, 1 for a latent (MLA) cache.
    public var kindsPerBlock: Int
    /// KV heads and head dimension; for a latent cache, 1 and the latent width.
    public var kvHeads: Int
    public var headDim: Int
    /// Tokens per block.
    public var blockTokens: Int
    /// Bytes of one kind of one block of one layer.
    public var pieceBytes: Int
    public var arrangement: KVArrangement
    public var numBlocks: Int

    public init(
        model: String, dtypeBytes: Int, layers: Int, kindsPerBlock: Int, kvHeads: Int, headDim: Int,
        blockTokens: Int, pieceBytes: Int, arrangement: KVArrangement, numBlocks: Int
    ) {
        self.model = model
        self.dtypeBytes = dtypeBytes
        self.layers = layers
        self.kindsPerBlock = kindsPerBlock
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockTokens = blockTokens
        self.pieceBytes = pieceBytes
        self.arrangement = arrangement
        self.numBlocks = numBlocks
    }

    /// The spec of a pool of `numBlocks` blocks laid out for `preset`.
    public init(preset: ModelPreset, blockTokens: Int, arrangement: KVArrangement, numBlocks: Int) {
        let (heads, dim): (Int, Int) = switch preset.attention {
        case let .multiHead(kvHeads, headDim): (kvHeads, headDim)
        case let .latent(width): (1, width)
        }
        self.init(
            model: preset.name, dtypeBytes: preset.dtypeBytes, layers: preset.layers,
            kindsPerBlock: preset.kindsPerBlock, kvHeads: heads, headDim: dim, blockTokens: blockTokens,
            pieceBytes: preset.geometry(blockTokens: blockTokens).pieceBytes, arrangement: arrangement,
            numBlocks: numBlocks)
    }

    /// The data-plane layout this spec describes.
    public func layout() throws(KVModelError) -> KVLayout {
        try KVLayout(
            geometry: KVGeometry(layers: layers, kindsPerBlock: kindsPerBlock, pieceBytes: pieceBytes),
            numBlocks: numBlocks, arrangement: arrangement)
    }

    /// Bytes of one block over all layers and kinds.
    public var blockBytes: Int { layers * kindsPerBlock * pieceBytes }

    /// Blocks a prompt of `tokens` tokens occupies.
    public func blocks(forTokens tokens: Int) -> Int { (tokens + blockTokens - 1) / blockTokens }

    /// Every contradiction inside the spec, or with the named preset when the model is one; empty when consistent.
    public func contradictions() -> [String] {
        var problems: [String] = []
        if model.isEmpty { problems.append("model is empty") }
        if blockTokens <= 0 { problems.append("block tokens must be positive, got \(blockTokens)") }
        if numBlocks <= 0 { problems.append("the pool must have at least one block, got \(numBlocks)") }
        if layers <= 0 || kindsPerBlock <= 0 || kvHeads <= 0 || headDim <= 0 || dtypeBytes <= 0 {
            problems.append("layers, kinds, KV heads, head dim and dtype bytes must all be positive")
            return problems
        }
        if pieceBytes != blockTokens * kvHeads * headDim * dtypeBytes {
            problems.append(
                "piece bytes \(pieceBytes) ≠ block tokens \(blockTokens) × KV heads \(kvHeads) × head dim \(headDim) × dtype bytes \(dtypeBytes)")
        }
        if let preset = try? ModelPreset.named(model) {
            let expected = KVLayoutSpec(preset: preset, blockTokens: blockTokens, arrangement: arrangement, numBlocks: numBlocks)
            for (name, declared, wanted) in [
                ("layers", layers, expected.layers), ("kinds per block", kindsPerBlock, expected.kindsPerBlock),
                ("KV heads", kvHeads, expected.kvHeads), ("head dim", headDim, expected.headDim),
                ("dtype bytes", dtypeBytes, expected.dtypeBytes),
            ] where declared != wanted {
                problems.append("\(name) \(declared) contradicts model \(preset.name) (\(wanted))")
            }
        }
        return problems
    }
}
