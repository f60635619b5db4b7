extension TransferPlan {
    /// The most byte ranges one plan may name.
    public static let maxRanges = 1 << 22

    /// Plans the copy of arbitrary byte ranges between two pools, for engines whose blocks are not the unit they
    /// move (a partial block, a layer's slice). Regions are numbered as in `KVLayout`: one per layer. Ranges are
    /// ordered by source region and offset, and a range that continues the one before it on both sides is merged.
    ///
    /// - Throws: `PlanError` when the list is empty or longer than `maxRanges`, the two layouts' blocks differ in
    ///   shape, a range is empty or reaches outside its region on either side, or the total overflows.
    public init(ranges: [CopyOp], source: KVLayout, destination: KVLayout) throws(PlanError) {
        guard source.geometry == destination.geometry else {
            throw .incompatibleLayouts(source: source.geometry, destination: destination.geometry)
        }
        guard !ranges.isEmpty else { throw .empty }
        guard ranges.count <= Self.maxRanges else { throw .tooManyRanges(count: ranges.count, limit: Self.maxRanges) }
        for (index, range) in ranges.enumerated() {
            try Self.check(range.sourceRegion, range.sourceOffset, range.length, .source, index, in: source)
            try Self.check(
                range.destinationRegion, range.destinationOffset, range.length, .destination, index, in: destination)
        }
        var totalBytes = 0
        for range in ranges {
            let (sum, overflow) = totalBytes.addingReportingOverflow(range.length)
            guard !overflow else { throw .tooManyBytes }
            totalBytes = sum
        }
        let sorted = ranges.sorted { ($0.sourceRegion, $0.sourceOffset) < ($1.sourceRegion, $1.sourceOffset) }
        var ops: [CopyOp] = []
        ops.reserveCapacity(sorted.count)
        for range in sorted {
            if let last = ops.last, last.isContinued(by: range) {
                ops[ops.count - 1].length += range.length
            } else {
                ops.append(range)
            }
        }
        self.init(ops: ops, totalBytes: totalBytes, pieceCount: ranges.count, source: source, destination: destination)
    }

    private static func check(
        _ region: Int, _ offset: Int, _ length: Int, _ side: TransferSide, _ index: Int, in layout: KVLayout
    ) throws(PlanError) {
        let regionBytes = layout.regionBytes
        guard region >= 0, region < layout.regionCount, offset >= 0, length > 0, offset <= regionBytes,
            length <= regionBytes - offset
        else {
            throw .rangeOutOfRegion(
                side: side, index: index, region: region, offset: offset, length: length, regionBytes: regionBytes)
        }
    }
}
