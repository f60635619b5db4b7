import HandoffCore

extension LocalPool {
    /// Fills every block of every region with its `pattern` content.
    public func fill(with pattern: BlockPattern) {
        for layer in 0..<layout.regionCount {
            withRegion(layer) { pattern.fill(region: $0, layout: layout, layer: layer) }
        }
    }

    /// The first moved block (in any layer) whose destination pieces here do not hold its source's `pattern`
    /// content, or nil when all match.
    public func firstMismatch(
        pattern: BlockPattern, moves: [(source: Int, destination: Int)]
    ) -> (layer: Int, source: Int, destination: Int, kind: Int)? {
        for layer in 0..<layout.regionCount {
            let mismatch = withRegion(layer) {
                pattern.firstMismatch(region: UnsafeRawBufferPointer($0), layout: layout, layer: layer, moves: moves)
            }
            if let mismatch { return (layer, mismatch.source, mismatch.destination, mismatch.kind) }
        }
        return nil
    }

    /// Sets every byte of every region to zero.
    public func zero() {
        for layer in 0..<layout.regionCount {
            withRegion(layer) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
    }
}
