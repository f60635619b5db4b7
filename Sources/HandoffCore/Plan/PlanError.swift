/// Which side of a transfer a block list belongs to.
public enum TransferSide: String, Sendable, Hashable, Codable {
    case source
    case destination
}

/// Why a transfer plan could not be built from two block lists.
public enum PlanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The lists name no block.
    case empty
    /// The source and destination lists have different lengths.
    case lengthMismatch(source: Int, destination: Int)
    /// A block id is negative or not below the pool's block count.
    case blockOutOfRange(side: TransferSide, index: Int, blockID: Int, numBlocks: Int)
    /// The same destination block appears twice, so one block would be written twice.
    case duplicateDestination(blockID: Int, firstIndex: Int, secondIndex: Int)
    /// The pools' blocks have different shapes and cannot be copied piece by piece.
    case incompatibleLayouts(source: KVGeometry, destination: KVGeometry)
    /// The layers asked for are empty or not all within the layout's `0..<layerCount`.
    case layersOutOfRange(Range<Int>, layerCount: Int)
    /// The ranges add up to more bytes than a plan can count.
    case tooManyBytes
    /// More byte ranges than one plan may name.
    case tooManyRanges(count: Int, limit: Int)
    /// A byte range is empty, negative, or reaches outside its layer's region.
    case rangeOutOfRegion(side: TransferSide, index: Int, region: Int, offset: Int, length: Int, regionBytes: Int)

    public var description: String {
        switch self {
        case .empty:
            "the transfer names no blocks"
        case .lengthMismatch(let source, let destination):
            "source lists \(source) blocks but destination lists \(destination)"
        case .blockOutOfRange(let side, let index, let blockID, let numBlocks):
            "\(side.rawValue) block id \(blockID) at position \(index) is outside the pool's 0..<\(numBlocks)"
        case .duplicateDestination(let blockID, let first, let second):
            "destination block id \(blockID) appears twice, at positions \(first) and \(second)"
        case .incompatibleLayouts(let source, let destination):
            "incompatible KV layouts: source has \(source.layers) layers × \(source.kindsPerBlock) kinds × "
                + "\(source.pieceBytes) B pieces, destination \(destination.layers) × \(destination.kindsPerBlock) × "
                + "\(destination.pieceBytes) B"
        case .layersOutOfRange(let layers, let layerCount):
            "layers \(layers) are empty or outside the pool's 0..<\(layerCount)"
        case .tooManyRanges(let count, let limit):
            "\(count) byte ranges exceed the \(limit) one transfer may name"
        case .tooManyBytes:
            "the ranges add up to more bytes than a transfer can count"
        case .rangeOutOfRegion(let side, let index, let region, let offset, let length, let regionBytes):
            "\(side.rawValue) range \(index) (region \(region), offset \(offset), \(length) bytes) is empty or "
                + "outside the pool's regions of \(regionBytes) bytes"
        }
    }
}
