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
        let (heads, dim): (Int, Int) =
            switch preset.attention {
            case .multiHead(let kvHeads, let headDim): (kvHeads, headDim)
            case .latent(let width): (1, width)
            }
        self.init(
            model: preset.name, dtypeBytes: preset.dtypeBytes, layers: preset.layers,
            kindsPerBlock: preset.kindsPerBlock, kvHeads: heads, headDim: dim, blockTokens: blockTokens,
            pieceBytes: preset.geometry(blockTokens: blockTokens).pieceBytes, arrangement: arrangement,
            numBlocks: numBlocks)
    }

    /// The spec of an engine's own KV cache, from what the engine knows of it: its model's name and geometry and
    /// the block size and count it allocated. The piece size is derived here, never given.
    ///
    /// - Parameters:
    ///   - kindsPerBlock: 2 when K and V are stored per block (most attention), 1 for a single latent or for a
    ///     block stored as one opaque run (vLLM's CPU layout interleaves K and V per head inside a block).
    /// - Throws: `KVModelError.invalidGeometry` when a dimension is not positive, a product overflows, or the spec
    ///   contradicts the model's preset.
    public init(
        engineModel model: String, layers: Int, kvHeads: Int, headDim: Int, dtypeBytes: Int, blockTokens: Int,
        numBlocks: Int, arrangement: KVArrangement, kindsPerBlock: Int = 2
    ) throws(KVModelError) {
        guard [blockTokens, kvHeads, headDim, dtypeBytes].allSatisfy({ $0 > 0 }) else {
            throw .invalidGeometry("block tokens, KV heads, head dim and dtype bytes must be positive")
        }
        guard
            let pieceBytes = Self.product([blockTokens, kvHeads, headDim, dtypeBytes], limit: KVGeometry.maxPieceBytes)
        else { throw .invalidGeometry("a block piece would exceed 2^40 bytes") }
        self.init(
            model: model, dtypeBytes: dtypeBytes, layers: layers, kindsPerBlock: kindsPerBlock, kvHeads: kvHeads,
            headDim: headDim, blockTokens: blockTokens, pieceBytes: pieceBytes, arrangement: arrangement,
            numBlocks: numBlocks)
        // The pool's size is bounded (2^56 bytes) and its dimensions checked by the layout, through contradictions().
        let problems = contradictions()
        guard problems.isEmpty else { throw .invalidGeometry(problems.joined(separator: "; ")) }
    }

    /// The product of positive `factors`, or nil when it overflows or exceeds `limit`.
    static func product(_ factors: [Int], limit: Int) -> Int? {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            guard !overflow, next <= limit else { return nil }
            product = next
        }
        return product
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
        guard let product = Self.product([blockTokens, kvHeads, headDim, dtypeBytes], limit: KVGeometry.maxPieceBytes)
        else {
            problems.append(
                "block tokens \(blockTokens) × KV heads \(kvHeads) × head dim \(headDim) × dtype bytes \(dtypeBytes) exceeds 2^40 bytes"
            )
            return problems
        }
        if pieceBytes != product {
            problems.append(
                "piece bytes \(pieceBytes) ≠ block tokens \(blockTokens) × KV heads \(kvHeads) × head dim \(headDim) × dtype bytes \(dtypeBytes)"
            )
        }
        do {
            _ = try layout()
        } catch {
            problems.append(error.description)
            return problems
        }
        if let preset = try? ModelPreset.named(model) {
            let expected = KVLayoutSpec(
                preset: preset, blockTokens: blockTokens, arrangement: arrangement, numBlocks: numBlocks)
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
