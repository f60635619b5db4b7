import HandoffCore
import Testing

/// Applies a plan to in-memory pools: the reference the property tests compare against.
private func apply(_ plan: TransferPlan, from source: [[UInt8]], to destination: inout [[UInt8]]) {
    for op in plan.ops {
        destination[op.destinationRegion].replaceSubrange(
            op.destinationOffset..<op.destinationOffset + op.length,
            with: source[op.sourceRegion][op.sourceOffset..<op.sourceOffset + op.length])
    }
}

/// Regions whose every byte differs from its neighbours', so a misplaced copy shows.
private func numberedRegions(_ layout: KVLayout, salt: Int) -> [[UInt8]] {
    (0..<layout.regionCount).map { region in
        (0..<layout.regionBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ region &* 7 &+ salt) }
    }
}

@Suite("Transfer plans")
struct TransferPlanTests {
    @Test("for random block lists the plan moves exactly the named bytes, in maximal runs")
    func randomListsMoveExactlyTheNamedBytes() throws {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<300 {
            let geometry = KVGeometry(
                layers: Int.random(in: 1...3, using: &generator),
                kindsPerBlock: Int.random(in: 1...2, using: &generator),
                pieceBytes: Int.random(in: 1...24, using: &generator))
            let source = try KVLayout(
                geometry: geometry, numBlocks: Int.random(in: 1...24, using: &generator),
                arrangement: KVArrangement.allCases.randomElement(using: &generator)!)
            let destination = try KVLayout(
                geometry: geometry, numBlocks: Int.random(in: 1...24, using: &generator),
                arrangement: KVArrangement.allCases.randomElement(using: &generator)!)
            let count = Int.random(in: 1...min(source.numBlocks, destination.numBlocks), using: &generator)
            let sourceBlocks = (0..<count).map { _ in Int.random(in: 0..<source.numBlocks, using: &generator) }
            let destinationBlocks = Array((0..<destination.numBlocks).shuffled(using: &generator).prefix(count))

            let plan = try TransferPlan(
                sourceBlocks: sourceBlocks, destinationBlocks: destinationBlocks, source: source,
                destination: destination)

            let sourceBytes = numberedRegions(source, salt: 1)
            var actual = numberedRegions(destination, salt: 2)
            var expected = actual
            apply(plan, from: sourceBytes, to: &actual)
            for (from, to) in zip(sourceBlocks, destinationBlocks) {
                for layer in 0..<geometry.layers {
                    for kind in 0..<geometry.kindsPerBlock {
                        let s = source.offset(kind: kind, block: from)
                        let d = destination.offset(kind: kind, block: to)
                        expected[layer].replaceSubrange(
                            d..<d + geometry.pieceBytes, with: sourceBytes[layer][s..<s + geometry.pieceBytes])
                    }
                }
            }
            #expect(actual == expected, "plan for \(sourceBlocks) -> \(destinationBlocks) moved other bytes")
            #expect(plan.ops.reduce(0) { $0 + $1.length } == count * geometry.blockBytes)
            #expect(plan.totalBytes == count * geometry.blockBytes)
            #expect(plan.pieceCount == count * geometry.layers * geometry.kindsPerBlock)
            for (previous, next) in zip(plan.ops, plan.ops.dropFirst()) {
                #expect(!previous.isContinued(by: next), "two adjacent ops should have been merged")
            }
        }
    }

    @Test("contiguous lists over whole pools become one op per layer", arguments: KVArrangement.allCases)
    func contiguousBecomesOneOpPerLayer(arrangement: KVArrangement) throws {
        let layout = try KVLayout(
            geometry: KVGeometry(layers: 32, kindsPerBlock: 2, pieceBytes: 32 * 1024), numBlocks: 256,
            arrangement: arrangement)
        let blocks = Array(0..<256)
        let plan = try TransferPlan(
            sourceBlocks: blocks, destinationBlocks: blocks, source: layout, destination: layout)
        #expect(plan.ops.count == 32)
        #expect(plan.ops.allSatisfy { $0.length == layout.regionBytes })
        #expect(plan.totalBytes == 512 * 1024 * 1024)
    }

    @Test("a run contiguous on both sides merges even when listed out of order")
    func unorderedRunMerges() throws {
        let layout = try KVLayout(geometry: KVGeometry(layers: 1, kindsPerBlock: 1, pieceBytes: 10), numBlocks: 8)
        let plan = try TransferPlan(
            sourceBlocks: [3, 1, 2], destinationBlocks: [6, 4, 5], source: layout, destination: layout)
        #expect(
            plan.ops == [
                CopyOp(sourceRegion: 0, sourceOffset: 10, destinationRegion: 0, destinationOffset: 40, length: 30)
            ])
    }

    @Test("shuffled destinations give one op per piece")
    func scatteredIsOneOpPerPiece() throws {
        let layout = try KVLayout(geometry: KVGeometry(layers: 4, kindsPerBlock: 2, pieceBytes: 64), numBlocks: 64)
        // A derangement with no two consecutive sources landing consecutively.
        let destinations = (0..<64).map { ($0 * 37 + 5) % 64 }
        let plan = try TransferPlan(
            sourceBlocks: Array(0..<64), destinationBlocks: destinations, source: layout, destination: layout)
        #expect(plan.ops.count == 4 * 2 * 64)
    }

    @Test(
        "one plan per layer moves, layer by layer, exactly what the whole plan moves", arguments: KVArrangement.allCases
    )
    func layerByLayerPlansAddUpToTheWholePlan(arrangement: KVArrangement) throws {
        let layout = try KVLayout(
            geometry: KVGeometry(layers: 3, kindsPerBlock: 2, pieceBytes: 16), numBlocks: 12, arrangement: arrangement)
        let sources = [0, 3, 4, 5, 9]
        let destinations = [11, 2, 3, 7, 0]
        let whole = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout)
        let perLayer = try (0..<3).map { layer in
            try TransferPlan(
                sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout,
                layers: layer..<layer + 1)
        }
        for (layer, plan) in perLayer.enumerated() {
            #expect(plan.layers == layer..<layer + 1)
            #expect(plan.ops.allSatisfy { $0.sourceRegion == layer && $0.destinationRegion == layer })
            #expect(plan.totalBytes == whole.totalBytes / 3 && plan.pieceCount == whole.pieceCount / 3)
        }
        #expect(perLayer.flatMap(\.ops) == whole.ops)
        #expect(whole.layers == 0..<3)

        let sourceBytes = numberedRegions(layout, salt: 1)
        var byLayers = numberedRegions(layout, salt: 2)
        var byWhole = byLayers
        for plan in perLayer { apply(plan, from: sourceBytes, to: &byLayers) }
        apply(whole, from: sourceBytes, to: &byWhole)
        #expect(byLayers == byWhole)
    }

    @Test("layers outside the layout, or none, give a typed error", arguments: [3..<4, 2..<4, 1..<1, -1..<1])
    func layersOutOfRange(layers: Range<Int>) throws {
        let layout = try KVLayout(geometry: KVGeometry(layers: 3, kindsPerBlock: 2, pieceBytes: 16), numBlocks: 4)
        #expect(throws: PlanError.layersOutOfRange(layers, layerCount: 3)) {
            try TransferPlan(
                sourceBlocks: [0], destinationBlocks: [1], source: layout, destination: layout, layers: layers)
        }
    }

    @Test("bad block lists give typed errors")
    func badLists() throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let other = try KVLayout(geometry: ModelPreset.qwen25_7B.geometry(), numBlocks: 8)
        func plan(_ s: [Int], _ d: [Int], _ destination: KVLayout? = nil) throws(PlanError) -> TransferPlan {
            try TransferPlan(sourceBlocks: s, destinationBlocks: d, source: layout, destination: destination ?? layout)
        }
        #expect(throws: PlanError.empty) { try plan([], []) }
        #expect(throws: PlanError.lengthMismatch(source: 2, destination: 1)) { try plan([0, 1], [0]) }
        #expect(throws: PlanError.blockOutOfRange(side: .source, index: 1, blockID: 8, numBlocks: 8)) {
            try plan([0, 8], [0, 1])
        }
        #expect(throws: PlanError.blockOutOfRange(side: .destination, index: 0, blockID: -1, numBlocks: 8)) {
            try plan([0], [-1])
        }
        #expect(throws: PlanError.duplicateDestination(blockID: 3, firstIndex: 0, secondIndex: 2)) {
            try plan([0, 1, 2], [3, 4, 3])
        }
        #expect(throws: PlanError.incompatibleLayouts(source: layout.geometry, destination: other.geometry)) {
            try plan([0], [0], other)
        }
    }
}
