import GRPCCore
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Synchronization
import Testing

@testable import HandoffControlPlane

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

    @Test func overlongLabelsTicketsAndReasonsAreRefusedOrCut() async throws {
        let base = CoordinatorFixture.registration("p0", .prefill).proto
        for mutate in [
            { (m: inout Handoff_V1_Register) in m.node = String(repeating: "n", count: 257) },
            { (m: inout Handoff_V1_Register) in m.layout.model = String(repeating: "m", count: 1 << 20) },
            { (m: inout Handoff_V1_Register) in m.transports = Array(repeating: "tcp", count: 9) },
            { (m: inout Handoff_V1_Register) in m.workerID = String(repeating: "w", count: 257) },
            { (m: inout Handoff_V1_Register) in m.workerID = "" },
            // Shown in terminals and logs: escape sequences and line breaks are refused.
            { (m: inout Handoff_V1_Register) in m.workerID = "p0\u{1B}]0;pwned\u{07}" },
            { (m: inout Handoff_V1_Register) in m.rack = "r1\nlevel=error msg=forged" },
            { (m: inout Handoff_V1_Register) in m.transports = ["tcp\r"] },
            // Format and separator characters reorder or split what a reader sees: a bidi override, U+2028.
            { (m: inout Handoff_V1_Register) in m.workerID = "p0\u{202E}1p" },
            { (m: inout Handoff_V1_Register) in m.node = "n1\u{2028}level=error" },
            { (m: inout Handoff_V1_Register) in m.rack = "r\u{2029}" },
            { (m: inout Handoff_V1_Register) in m.layout.model = "ti\u{200B}ny" },
        ] {
            var message = base
            mutate(&message)
            #expect(throws: ProtocolError.self) { try WorkerRegistration(proto: message) }
        }
        let coordinator = Coordinator(configuration: CoordinatorConfiguration())
        for request in [
            AdmitRequest(requestID: "r1\u{1B}[2J", model: "tiny", promptTokens: 16),
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16, rack: "r\nforged"),
            AdmitRequest(requestID: "r1\u{202E}", model: "tiny", promptTokens: 16),
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16, node: "n\u{2028}"),
            AdmitRequest(requestID: "r1", model: String(repeating: "m", count: 257), promptTokens: 16),
        ] {
            await #expect(throws: CoordinatorError.self) { _ = try await coordinator.admit(request) }
        }
        // A transfer report's names are kept in the account: bounded and printable.
        for stats in [
            stats(transport: String(repeating: "t", count: 1 << 20)),
            stats(lowerTransports: Array(repeating: "x", count: 9)),
            stats(fallback: "\u{1B}[31mred"),
        ] {
            #expect(throws: ProtocolError.self) {
                try ProgressEvent.from(proto: ProgressEvent.transferDone(stats, verified: true).proto(ticket: "t1"))
            }
        }
        let huge = ProgressEvent.transferFailed(reason: String(repeating: "é", count: 1 << 19))
        let (_, event) = try ProgressEvent.from(proto: huge.proto(ticket: "t1"))
        guard case .transferFailed(let reason) = event else {
            Issue.record("\(event)")
            return
        }
        #expect(reason.utf8.count <= ProgressEvent.maxReasonBytes && reason.hasPrefix("éé"))
        #expect(throws: ProtocolError.self) {
            try ProgressEvent.from(
                proto: ProgressEvent.prefillStarted.proto(ticket: String(repeating: "t", count: 257)))
        }
    }

    @Test func aReportOutsideTheSessionNeedsTheWorkersReportKey() async throws {
        let fixture = CoordinatorFixture()
        let (prefill, decode, t) = try await fixture.transferringTicket()
        let c = fixture.coordinator
        let registered = await decode.drain().compactMap {
            if case .registered(_, let key) = $0 { key } else { nil }
        }
        let key = try #require(registered.first)
        #expect(key != 0)
        let done = ProgressEvent.transferDone(CoordinatorFixture.stats(blocks: 1), verified: true)
        // The identity is public (ListWorkers shows it); without the key a forger is refused and nothing changes.
        for forged in [UInt64(0), key &+ 1] {
            await #expect(throws: CoordinatorError.self) {
                try await c.report(done, ticket: t, from: decode.identity, reportKey: forged)
            }
        }
        #expect(try await c.account(of: "r1").state == .transferring)
        // A refusal for the wrong worker names no instance to forge.
        do {
            try await c.report(done, ticket: t, from: prefill.identity)
            Issue.record("a prefill worker reported decode's transfer")
        } catch {
            #expect(!error.description.contains("\(decode.identity)") && error.description.contains("d0"))
        }
        try await c.report(done, ticket: t, from: decode.identity, reportKey: key)
        #expect(try await c.account(of: "r1").state == .decoding)
    }

    @Test func lostWorkersAreForgottenAfterTheRetentionAndBeyondTheCap() async throws {
        let fixture = CoordinatorFixture {
            $0.lostWorkerRetention = .seconds(60)
            $0.maxLostWorkers = 3
        }
        let c = fixture.coordinator
        let live = try await fixture.register("d-live", .decode)
        for index in 0..<5 {
            let worker = try await fixture.register("p\(index)", .prefill)
            fixture.clock.advance(milliseconds: 10)
            await c.sessionEnded(worker.identity, reason: "gone")
            await c.heartbeat(live.identity, freeBlocks: 64, queueDepth: 0)
        }
        await c.sweep()
        // Beyond the cap the oldest lost records go first; the live worker stays.
        #expect(await c.workerStatuses().map(\.registration.identity.id) == ["d-live", "p2", "p3", "p4"])
        fixture.clock.advance(milliseconds: 61_000)
        await c.heartbeat(live.identity, freeBlocks: 64, queueDepth: 0)
        await c.sweep()
        #expect(await c.workerStatuses().map(\.registration.identity.id) == ["d-live"])
    }
    /// Refuses every response write until cancelled: a router that stopped reading.
    private struct StalledWriter<Element: Sendable>: RPCWriterProtocol {
        func write(_ element: Element) async throws { try await Task.sleep(for: .seconds(3600)) }
        func write(contentsOf elements: some Sequence<Element>) async throws {
            try await Task.sleep(for: .seconds(3600))
        }
    }

    @Test func aRouterThatStopsReadingIsNoLongerReadFromPastTheEventCap() async throws {
        let coordinator = Coordinator(configuration: CoordinatorConfiguration())
        let total = 5_000
        let read = Atomic<Int>(0)
        let admissions = AsyncStream<Handoff_V1_RouteRequest> {
            let index = read.add(1, ordering: .relaxed).newValue
            guard index <= total else { return nil }
            return .with {
                $0.admit = .with {
                    $0.requestID = "r\(index)"
                    $0.model = "no-such-model"
                    $0.promptTokens = 4
                }
            }
        }
        let handler = Task {
            try await RouteStreamHandler(coordinator: coordinator).run(
                request: RPCAsyncSequence(wrapping: admissions.map { $0 }),
                response: RPCWriter(wrapping: StalledWriter<Handoff_V1_RouteEvent>()))
        }
        // Every admission is refused at once; the refusals wait for a writer that never takes them.
        // Reading goes past the cap (the writer holds one batch, the outbox the cap), then stops there: wait for
        // the cap (60 s at most: a loaded CI machine once read 6 admissions in 20 s), then for a second more.
        let deadline = ContinuousClock.now + .seconds(60)
        while read.load(ordering: .relaxed) <= RouteOutbox.maxQueuedEvents, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(read.load(ordering: .relaxed) > RouteOutbox.maxQueuedEvents)
        try await Task.sleep(for: .seconds(1))
        let last = read.load(ordering: .relaxed)
        #expect(last <= 2 * RouteOutbox.maxQueuedEvents + 2, "read \(last) of \(total) admissions")
        handler.cancel()
        _ = await handler.result
    }
    private func stats(
        transport: String = "tcp", lowerTransports: [String] = [], fallback: String = ""
    ) -> TransferStats {
        TransferStats(
            bytes: 1, ops: 1, descriptors: 1, transport: transport, lowerTransports: lowerTransports, postSeconds: 0,
            completionSeconds: 0, fallback: fallback)
    }

    @Test func retainedAccountsAreCappedInBytesOldestForgottenFirst() async throws {
        let fixture = CoordinatorFixture { $0.retainedAccountBytes = 20_000 }
        try await fixture.register("p0", .prefill)
        try await fixture.register("d0", .decode)
        let reason = String(repeating: "x", count: 256)
        for index in 0..<100 {
            _ = try await fixture.coordinator.admit(
                AdmitRequest(requestID: "r\(index)", model: "tiny", promptTokens: 16))
            #expect(try await fixture.coordinator.cancel(requestID: "r\(index)", reason: reason))
        }
        var retained: [Int] = []
        for index in 0..<100 where (try? await fixture.coordinator.account(of: "r\(index)")) != nil {
            retained.append(index)
        }
        // About 900 bytes each: some 20 kept, the newest, in one run up to the last.
        #expect(retained.count >= 10 && retained.count <= 25, "\(retained)")
        #expect(retained.last == 99 && retained == Array(retained.first!...99))
        // A forgotten id may be admitted again.
        _ = try await fixture.coordinator.admit(AdmitRequest(requestID: "r0", model: "tiny", promptTokens: 16))
    }
}
