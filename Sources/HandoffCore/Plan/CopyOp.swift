/// One contiguous copy between two pools: `length` bytes from a source region and offset to a destination
/// region and offset. Regions are numbered as in `KVLayout` (one per layer).
public struct CopyOp: Sendable, Hashable {
    /// Index of the source region.
    public var sourceRegion: Int
    /// Byte offset inside the source region.
    public var sourceOffset: Int
    /// Index of the destination region.
    public var destinationRegion: Int
    /// Byte offset inside the destination region.
    public var destinationOffset: Int
    /// Bytes to copy.
    public var length: Int

    public init(sourceRegion: Int, sourceOffset: Int, destinationRegion: Int, destinationOffset: Int, length: Int) {
        self.sourceRegion = sourceRegion
        self.sourceOffset = sourceOffset
        self.destinationRegion = destinationRegion
        self.destinationOffset = destinationOffset
        self.length = length
    }

    /// Whether `next` continues this op on both sides, so the two can be one op.
    @inlinable
    public func isContinued(by next: CopyOp) -> Bool {
        next.sourceRegion == sourceRegion && next.destinationRegion == destinationRegion
            && next.sourceOffset == sourceOffset + length && next.destinationOffset == destinationOffset + length
    }
}
