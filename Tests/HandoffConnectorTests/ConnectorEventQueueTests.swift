import Glibc
import Testing

@testable import HandoffConnector

@Suite struct ConnectorEventQueueTests {
    private func readable(_ fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 1
    }

    @Test func theDescriptorIsReadableExactlyWhileEventsAreQueued() async throws {
        let queue = try ConnectorEventQueue(capacity: 8)
        #expect(!readable(queue.fileDescriptor))
        await queue.push(.release(ticket: "a", reason: "x"))
        await queue.push(.release(ticket: "b", reason: "x"))
        #expect(readable(queue.fileDescriptor))
        #expect(queue.poll()?.ticket == "a")
        #expect(readable(queue.fileDescriptor))
        #expect(queue.waitBlocking(timeout: .milliseconds(10))?.ticket == "b")
        #expect(!readable(queue.fileDescriptor))
        #expect(queue.waitBlocking(timeout: .milliseconds(20)) == nil)
    }

    @Test func aFullQueueHoldsTheProducerUntilTheEngineReads() async throws {
        let queue = try ConnectorEventQueue(capacity: 2)
        await queue.push(.release(ticket: "1", reason: ""))
        await queue.push(.release(ticket: "2", reason: ""))
        let third = Task { await queue.push(.release(ticket: "3", reason: "")) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(queue.poll()?.ticket == "1")
        await third.value
        #expect(queue.poll()?.ticket == "2")
        #expect(queue.poll()?.ticket == "3")
        queue.close()
        #expect(await queue.next() == nil)
    }
}
