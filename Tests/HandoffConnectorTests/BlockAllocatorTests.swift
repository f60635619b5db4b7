import HandoffConnector
import Testing

@Suite struct BlockAllocatorTests {
    @Test func ticketsHoldTheirBlocksUntilReleasedAndNeverTwice() {
        var allocator = BlockAllocator(capacity: 8, shuffleSeed: 3)
        let first = allocator.allocate(3, for: "a")
        #expect(first?.count == 3 && allocator.freeCount == 5 && allocator.holds("a"))
        #expect(allocator.allocate(1, for: "a") == nil, "a ticket holding blocks gets no second set")
        #expect(allocator.allocate(6, for: "b") == nil && allocator.freeCount == 5, "too many takes nothing")
        let second = allocator.allocate(5, for: "b")
        #expect(Set(first ?? []).isDisjoint(with: second ?? []) && allocator.freeCount == 0)
        allocator.release(ticket: "a")
        allocator.release(ticket: "a")
        #expect(allocator.freeCount == 3 && !allocator.holds("a") && allocator.ticketCount == 1)
    }
}
