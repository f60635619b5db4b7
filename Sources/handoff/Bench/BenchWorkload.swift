import HandoffCore

/// The KV-shaped workload both benchmark processes derive from the same options: the layout and the block lists.
struct BenchWorkload: Sendable {
    /// How the destination block ids relate to the source ids.
    enum Pattern: String, Sendable, CaseIterable {
        /// Both sides `0..<blocks`, so each layer's region moves as one run.
        case contiguous
        /// Destination ids are a seeded shuffle of `0..<blocks`, so no two pieces merge.
        case scattered
        /// As scattered, but moved one layer per transfer, each after the one before: how a prefill that pushes
        /// KV as each layer finishes moves it.
        case layerwise
    }

    let layout: KVLayout
    let pattern: Pattern
    let sources: [Int]
    let destinations: [Int]
    /// The model and prompt the workload was derived from (KV mode), or nil for a synthetic shape.
    let prompt: (model: ModelPreset, tokens: Int)?

    /// Every one of `blocks` blocks of `geometry` moves.
    init(
        geometry: KVGeometry, blocks: Int, pattern: Pattern, seed: UInt64,
        prompt: (model: ModelPreset, tokens: Int)? = nil
    ) throws {
        layout = try KVLayout(geometry: geometry, numBlocks: blocks, arrangement: .split)
        self.prompt = prompt
        self.pattern = pattern
        sources = Array(0..<blocks)
        switch pattern {
        case .contiguous:
            destinations = sources
        case .scattered, .layerwise:
            var generator = SplitMix64(seed: seed)
            destinations = sources.shuffled(using: &generator)
        }
    }

    /// The plans that together move every source block to its destination block, executed one after another:
    /// one plan, or for `layerwise` one per layer.
    func plans() throws -> [TransferPlan] {
        let layerRanges =
            pattern == .layerwise ? (0..<layout.geometry.layers).map { $0..<($0 + 1) } : [0..<layout.geometry.layers]
        return try layerRanges.map { layers in
            try TransferPlan(
                sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout,
                layers: layers)
        }
    }

    /// The moves as (source, destination) pairs, for verification.
    var moves: [(source: Int, destination: Int)] {
        zip(sources, destinations).map { (source: $0.0, destination: $0.1) }
    }
}
