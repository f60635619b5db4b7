import HandoffCore

/// A free list of a pool's block ids, and the blocks each ticket holds. Starting from a shuffled order, as a
/// long-running engine's free list ends up, the blocks of one request are in general not contiguous.
public struct BlockAllocator: Sendable {
    public let capacity: Int
    private var free: [Int]
    private var held: [String: [Int]] = [:]

    /// - Parameter shuffleSeed: nil keeps ids in order.
    public init(capacity: Int, shuffleSeed: UInt64? = nil) {
        self.capacity = capacity
        var ids = Array(0..<capacity)
        if let shuffleSeed {
            var generator = SplitMix64(seed: shuffleSeed)
            ids.shuffle(using: &generator)
        }
        free = ids
    }

    public var freeCount: Int { free.count }

    /// `count` blocks, or nil (taking nothing) when fewer are free.
    public mutating func allocate(_ count: Int) -> [Int]? {
        guard count > 0, count <= free.count else { return nil }
        let blocks = Array(free.suffix(count))
        free.removeLast(count)
        return blocks
    }

    /// Returns blocks to the free list.
    public mutating func release(_ blocks: [Int]) {
        free.append(contentsOf: blocks)
    }

    /// `count` blocks for `ticket`, remembered so that `release(ticket:)` frees them; nil (taking nothing) when
    /// fewer are free or the ticket holds blocks already.
    public mutating func allocate(_ count: Int, for ticket: String) -> [Int]? {
        guard held[ticket] == nil, let blocks = allocate(count) else { return nil }
        held[ticket] = blocks
        return blocks
    }

    /// Frees the blocks `ticket` holds, if any.
    public mutating func release(ticket: String) {
        if let blocks = held.removeValue(forKey: ticket) { release(blocks) }
    }

    /// Whether `ticket` holds blocks.
    public func holds(_ ticket: String) -> Bool { held[ticket] != nil }

    /// Tickets holding blocks.
    public var ticketCount: Int { held.count }
}
