/// The copy operations that move a list of blocks from one pool to another, with contiguous runs merged.
///
/// Build one with `init(sourceBlocks:destinationBlocks:source:destination:)`; a data-plane transport executes it
/// as a READ (the destination pulls) or a WRITE (the source pushes). Ops are ordered by source region and offset.
public struct TransferPlan: Sendable, Hashable {
    /// The copies, each contiguous on both sides, none continuing the one before it.
    public let ops: [CopyOp]
    /// Bytes the plan moves in total.
    public let totalBytes: Int
    /// Pieces (one block's K, V or latent in one layer) before merging: the descriptor count a per-block
    /// transfer would post.
    public let pieceCount: Int
    /// Layout of the pool the bytes come from.
    public let source: KVLayout
    /// Layout of the pool the bytes go to.
    public let destination: KVLayout

    /// Layers the plan covers: every layer, or a few for a layer-by-layer push.
    public let layers: Range<Int>

    /// Plans the copy of `sourceBlocks[i]` in `source` to `destinationBlocks[i]` in `destination`, for every i,
    /// in `layers` (default: every layer). A prefill that pushes KV as each layer finishes plans one layer at a time.
    ///
    /// - Throws: `PlanError` when the lists are empty or of different lengths, an id is out of range, a destination
    ///   id repeats, the two layouts' blocks differ in shape, or `layers` is empty or outside the layout's layers.
    public init(
        sourceBlocks: [Int], destinationBlocks: [Int], source: KVLayout, destination: KVLayout,
        layers: Range<Int>? = nil
    ) throws(PlanError) {
        guard source.geometry == destination.geometry else {
            throw .incompatibleLayouts(source: source.geometry, destination: destination.geometry)
        }
        let layers = layers ?? 0..<source.geometry.layers
        guard !layers.isEmpty, layers.lowerBound >= 0, layers.upperBound <= source.geometry.layers else {
            throw .layersOutOfRange(layers, layerCount: source.geometry.layers)
        }
        guard sourceBlocks.count == destinationBlocks.count else {
            throw .lengthMismatch(source: sourceBlocks.count, destination: destinationBlocks.count)
        }
        guard !sourceBlocks.isEmpty else { throw .empty }
        try Self.checkRange(sourceBlocks, side: .source, numBlocks: source.numBlocks)
        try Self.checkRange(destinationBlocks, side: .destination, numBlocks: destination.numBlocks)
        try Self.checkUnique(destinationBlocks, numBlocks: destination.numBlocks)

        // Visit pieces in source-address order so that runs contiguous in the source meet their neighbours.
        let pairs = zip(sourceBlocks, destinationBlocks).sorted { $0.0 < $1.0 }
        let geometry = source.geometry
        var ops: [CopyOp] = []
        ops.reserveCapacity(min(pairs.count * geometry.kindsPerBlock * layers.count, 1 << 16))
        func append(layer: Int, kind: Int, from sourceBlock: Int, to destinationBlock: Int) {
            let op = CopyOp(
                sourceRegion: layer, sourceOffset: source.offset(kind: kind, block: sourceBlock),
                destinationRegion: layer, destinationOffset: destination.offset(kind: kind, block: destinationBlock),
                length: geometry.pieceBytes)
            if let last = ops.last, last.isContinued(by: op) {
                ops[ops.count - 1].length += op.length
            } else {
                ops.append(op)
            }
        }
        for layer in layers {
            switch source.arrangement {
            case .split:
                for kind in 0..<geometry.kindsPerBlock {
                    for (from, to) in pairs { append(layer: layer, kind: kind, from: from, to: to) }
                }
            case .fused:
                for (from, to) in pairs {
                    for kind in 0..<geometry.kindsPerBlock { append(layer: layer, kind: kind, from: from, to: to) }
                }
            }
        }
        self.ops = ops
        self.pieceCount = pairs.count * layers.count * geometry.kindsPerBlock
        self.totalBytes = pieceCount * geometry.pieceBytes
        self.source = source
        self.destination = destination
        self.layers = layers
    }

    /// A plan of already merged `ops` over every layer.
    init(ops: [CopyOp], totalBytes: Int, pieceCount: Int, source: KVLayout, destination: KVLayout) {
        self.ops = ops
        self.totalBytes = totalBytes
        self.pieceCount = pieceCount
        self.source = source
        self.destination = destination
        self.layers = 0..<source.geometry.layers
    }

    private static func checkRange(_ blocks: [Int], side: TransferSide, numBlocks: Int) throws(PlanError) {
        for (index, id) in blocks.enumerated() where id < 0 || id >= numBlocks {
            throw .blockOutOfRange(side: side, index: index, blockID: id, numBlocks: numBlocks)
        }
    }

    private static func checkUnique(_ blocks: [Int], numBlocks: Int) throws(PlanError) {
        var firstIndex = [Int](repeating: -1, count: numBlocks)
        for (index, id) in blocks.enumerated() {
            if firstIndex[id] >= 0 {
                throw .duplicateDestination(blockID: id, firstIndex: firstIndex[id], secondIndex: index)
            }
            firstIndex[id] = index
        }
    }
}
