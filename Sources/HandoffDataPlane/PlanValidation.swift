import HandoffCore

/// Checks, before anything is posted, that a plan fits the pools it is executed between: the layouts it was
/// built for are theirs, and every op lies inside a region on both sides.
package enum PlanValidation {
    /// - Throws: `DataPlaneError.layoutMismatch` or `.rangeOutsideRegion`.
    package static func check(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: PoolDescriptor
    ) throws(DataPlaneError) {
        let (localLayout, remoteLayout) =
            operation == .read
            ? (plan.destination, plan.source) : (plan.source, plan.destination)
        guard localLayout == local.layout else {
            throw .layoutMismatch("the local pool's layout is not the one the plan was built for")
        }
        guard remoteLayout == remote.layout else {
            throw .layoutMismatch("the peer's pool layout is not the one the plan was built for")
        }
        let sourceLengths =
            operation == .read ? remote.regions.map { Int(clamping: $0.length) } : local.regions.map(\.length)
        let destinationLengths =
            operation == .read ? local.regions.map(\.length) : remote.regions.map { Int(clamping: $0.length) }
        for op in plan.ops {
            try checkRange(.source, op.sourceRegion, op.sourceOffset, op.length, in: sourceLengths)
            try checkRange(.destination, op.destinationRegion, op.destinationOffset, op.length, in: destinationLengths)
        }
    }

    @inline(__always)
    private static func checkRange(
        _ side: TransferSide, _ region: Int, _ offset: Int, _ length: Int, in lengths: [Int]
    ) throws(DataPlaneError) {
        guard region >= 0, region < lengths.count else {
            throw .rangeOutsideRegion(side: side, region: region, offset: offset, length: length, regionLength: 0)
        }
        guard offset >= 0, length > 0, offset <= lengths[region], length <= lengths[region] - offset else {
            throw .rangeOutsideRegion(
                side: side, region: region, offset: offset, length: length, regionLength: lengths[region])
        }
    }
}
