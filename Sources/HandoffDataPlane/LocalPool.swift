import HandoffCore

/// A pool registered with a transport: its layout and the memory of its regions (one per layer).
///
/// The engine writes KV into the regions and the transport reads or writes them during transfers; like any
/// KV cache, who touches which blocks when is the engine's to coordinate.
public final class LocalPool: Sendable {
    /// Identifies the pool inside its transport.
    public let id: UInt64
    /// How blocks are laid out in the regions.
    public let layout: KVLayout
    /// Where the memory lives.
    public let memoryType: MemoryType
    /// Start address and length of each region.
    package let regions: [(address: UInt, length: Int)]

    package init(id: UInt64, layout: KVLayout, memoryType: MemoryType, regions: [(address: UInt, length: Int)]) {
        self.id = id
        self.layout = layout
        self.memoryType = memoryType
        self.regions = regions
    }

    /// Length in bytes of region `index`.
    public func regionLength(_ index: Int) -> Int { regions[index].length }

    /// Calls `body` with region `index`'s memory (host memory only).
    @discardableResult
    public func withRegion<Result>(
        _ index: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        precondition(memoryType == .host, "only host memory can be accessed from the CPU")
        let region = regions[index]
        return try body(
            UnsafeMutableRawBufferPointer(
                start: UnsafeMutableRawPointer(bitPattern: region.address), count: region.length))
    }
}
