import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Testing

/// What a hostile or broken peer sent the coordinator, as the hardening review found it: each must be refused with
/// a typed error (or clamped), never trap, and leave the coordinator serving.
@Suite struct HostileInputTests {
    @Test func aLayoutWhoseProductsOverflowIsRefusedNotATrap() async throws {
        let fixture = CoordinatorFixture()
        var message = CoordinatorFixture.registration("p0", .prefill).proto
        message.layout.kvHeads = UInt32.max
        message.layout.blockTokens = UInt32.max
        message.layout.pieceBytes = UInt64.max
        let registration = try WorkerRegistration(proto: message)
        #expect(!registration.layout.contradictions().isEmpty)
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.register(
                registration, outbox: Mailbox(identity: registration.identity).outbox)
        }
        // Dimensions that multiply to more than a pool may hold, each one plausible.
        var huge = CoordinatorFixture.registration("p1", .prefill)
        huge.layout.layers = 60_000
        huge.layout.numBlocks = Int(UInt32.max)
        #expect(huge.layout.contradictions().contains { $0.contains("2^56") })
        #expect(throws: KVModelError.self) {
            try KVLayoutSpec(
                engineModel: "m", layers: 65_537, kvHeads: 1, headDim: 1, dtypeBytes: 1, blockTokens: 1, numBlocks: 1,
                arrangement: .split)
        }
        // The coordinator still serves.
        try await fixture.register("p2", .prefill)
        try await fixture.register("d0", .decode)
        _ = try await fixture.coordinator.admit(AdmitRequest(requestID: "r", model: "tiny", promptTokens: 16))
    }

    @Test func transferTimesOutOfRangeAreRefusedNotATrap() async throws {
        let fixture = CoordinatorFixture()
        let (_, decode, t) = try await fixture.transferringTicket(requestID: "r")
        let c = fixture.coordinator
        for seconds in [1e11, .infinity, .nan, -1, 86_401] {
            await #expect(throws: CoordinatorError.self) {
                try await c.report(
                    .transferDone(CoordinatorFixture.stats(blocks: 1, seconds: seconds), verified: true), ticket: t,
                    from: decode.identity)
            }
        }
        try await c.report(
            .transferDone(CoordinatorFixture.stats(blocks: 1), verified: true), ticket: t, from: decode.identity)
        #expect(try await c.account(of: "r").state == .decoding)
    }

    @Test func freeBlocksBeyondThePoolAreClampedToIt() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        for worker in [prefill, decode] {
            await c.heartbeat(worker.identity, freeBlocks: 268_000_000, queueDepth: 0)
        }
        // The pool has 64 blocks of 16 tokens: a prompt of 65 blocks cannot be admitted, whatever a heartbeat says.
        await #expect(throws: CoordinatorError.self) {
            try await c.admit(AdmitRequest(requestID: "r", model: "tiny", promptTokens: 65 * 16))
        }
        #expect(await c.workerStatuses().allSatisfy { $0.freeBlocks == 64 })
    }

    @Test func aLostWorkerIsToldToReleaseItsTicketsBeforeItsSessionCloses() async throws {
        let fixture = CoordinatorFixture()
        let (prefill, decode, t) = try await fixture.transferringTicket(requestID: "r")
        let c = fixture.coordinator
        // Declared lost (a paused process misses its heartbeats): when it runs again it reads these releases.
        await c.sessionEnded(decode.identity, reason: "no heartbeat")
        #expect(await decode.releases() == [t])
        #expect(await prefill.releases() == [t])
        #expect(decode.outbox.isFinished)
    }

    @Test func aTokenWithAnythingAfterItIsRefused() {
        let token = BearerToken.random()
        #expect(token.accepts(header: "Bearer \(token.value)"))
        for suffix in ["x", String(repeating: "a", count: 256), String(repeating: "a", count: 512)] {
            #expect(!token.accepts(header: "Bearer \(token.value)\(suffix)"))
        }
        #expect(!token.accepts(header: "Bearer " + token.value.dropLast()))
        #expect(!token.accepts(header: "Bearer "))
    }
}
