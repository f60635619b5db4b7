import HandoffCore
import Testing

@Suite("Transfer plans of byte ranges")
struct TransferPlanRangeTests {
    static let layout = try! KVLayout(geometry: KVGeometry(layers: 2, kindsPerBlock: 2, pieceBytes: 64), numBlocks: 8)

    @Test("ranges are sorted by source and merged where they continue each other on both sides")
    func rangesMerge() throws {
        let ranges = [
            CopyOp(sourceRegion: 1, sourceOffset: 100, destinationRegion: 0, destinationOffset: 10, length: 5),
            CopyOp(sourceRegion: 0, sourceOffset: 10, destinationRegion: 1, destinationOffset: 0, length: 20),
            CopyOp(sourceRegion: 0, sourceOffset: 0, destinationRegion: 1, destinationOffset: 500, length: 10),
            CopyOp(sourceRegion: 0, sourceOffset: 30, destinationRegion: 1, destinationOffset: 20, length: 4),
        ]
        let plan = try TransferPlan(ranges: ranges, source: Self.layout, destination: Self.layout)
        #expect(
            plan.ops == [
                CopyOp(sourceRegion: 0, sourceOffset: 0, destinationRegion: 1, destinationOffset: 500, length: 10),
                CopyOp(sourceRegion: 0, sourceOffset: 10, destinationRegion: 1, destinationOffset: 0, length: 24),
                CopyOp(sourceRegion: 1, sourceOffset: 100, destinationRegion: 0, destinationOffset: 10, length: 5),
            ])
        #expect(plan.totalBytes == 39 && plan.pieceCount == 4)
    }

    @Test(
        "a range that is empty, negative or reaches outside its region on either side is refused",
        arguments: [
            CopyOp(sourceRegion: 0, sourceOffset: 0, destinationRegion: 0, destinationOffset: 0, length: 0),
            CopyOp(sourceRegion: 2, sourceOffset: 0, destinationRegion: 0, destinationOffset: 0, length: 1),
            CopyOp(sourceRegion: 0, sourceOffset: -1, destinationRegion: 0, destinationOffset: 0, length: 1),
            CopyOp(sourceRegion: 0, sourceOffset: 1024, destinationRegion: 0, destinationOffset: 0, length: 1),
            CopyOp(sourceRegion: 0, sourceOffset: 0, destinationRegion: 1, destinationOffset: 1000, length: 25),
            CopyOp(sourceRegion: 0, sourceOffset: 1, destinationRegion: 0, destinationOffset: 0, length: Int.max),
        ])
    func outOfRegionIsRefused(range: CopyOp) {
        #expect(throws: PlanError.self) {
            try TransferPlan(ranges: [range], source: Self.layout, destination: Self.layout)
        }
    }

    @Test("no ranges, or layouts of other block shapes, are refused")
    func emptyAndIncompatibleAreRefused() throws {
        #expect(throws: PlanError.empty) { try TransferPlan(ranges: [], source: Self.layout, destination: Self.layout) }
        let other = try KVLayout(geometry: KVGeometry(layers: 2, kindsPerBlock: 2, pieceBytes: 32), numBlocks: 16)
        let range = CopyOp(sourceRegion: 0, sourceOffset: 0, destinationRegion: 0, destinationOffset: 0, length: 8)
        #expect(throws: PlanError.self) { try TransferPlan(ranges: [range], source: Self.layout, destination: other) }
    }
}
