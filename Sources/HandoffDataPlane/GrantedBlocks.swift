import HandoffCore

/// The serving side's form of an `AccessGrant`: a bit per block of the pool, to check requested byte ranges
/// against in time proportional to the pieces they touch.
package struct GrantedBlocks: Sendable {
    package let pool: UInt64
    package let operation: TransferOperation
    private let layout: KVLayout
    private let bits: [UInt64]

    /// - Throws: `DataPlaneError.layoutMismatch` for a block id outside the pool, or no block at all.
    package init(_ grant: AccessGrant) throws(DataPlaneError) {
        let layout = grant.pool.layout
        guard !grant.blocks.isEmpty else { throw .layoutMismatch("a grant names no block") }
        var bits = [UInt64](repeating: 0, count: (layout.numBlocks + 63) / 64)
        for block in grant.blocks {
            guard block >= 0, block < layout.numBlocks else {
                throw .layoutMismatch("granted block \(block) is outside the pool's \(layout.numBlocks) blocks")
            }
            bits[block / 64] |= 1 << UInt64(block % 64)
        }
        self.pool = grant.pool.id
        self.operation = grant.operation
        self.layout = layout
        self.bits = bits
    }

    /// The first block that `length` bytes at `offset` of a region touch without a grant; nil when the grant
    /// covers them all. Every region (layer) arranges blocks alike. A range that is empty or not inside the
    /// layout's region is never covered: the answer is then `numBlocks`, an id no grant holds.
    package func firstUngrantedBlock(offset: Int, length: Int) -> Int? {
        guard length > 0, offset >= 0, offset <= layout.regionBytes, length <= layout.regionBytes - offset else {
            return layout.numBlocks
        }
        let pieceBytes = layout.geometry.pieceBytes
        let first = offset / pieceBytes
        let last = (offset + length - 1) / pieceBytes
        for piece in first...last {
            let block =
                switch layout.arrangement {
                case .split: piece % layout.numBlocks
                case .fused: piece / layout.geometry.kindsPerBlock
                }
            if bits[block / 64] & (1 << UInt64(block % 64)) == 0 { return block }
        }
        return nil
    }
}
