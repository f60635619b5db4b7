import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import Testing

@Suite struct CoordinatorBadInputTests {
    /// Admits one request with a reservation in place and returns what the bad-input cases act on.
    private func admitted() async throws -> (CoordinatorFixture, Mailbox, Mailbox, String) {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let ticket = try await fixture.coordinator.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40))
            .ticket
        return (fixture, prefill, decode, ticket)
    }

    @Test func aLayoutThatContradictsItsModelIsRefused() async throws {
        let fixture = CoordinatorFixture()
        var spec = CoordinatorFixture.spec
        spec.layers = 3  // tiny has 2
        await #expect {
            try await fixture.register("p0", .prefill, spec: spec)
        } throws: { error in
            guard case .invalidArgument(let message) = error as? CoordinatorError else { return false }
            return message.contains("contradicts model tiny")
        }
        #expect(await fixture.coordinator.workerStatuses().isEmpty)
    }

    @Test func aWrongCompatibilityHashOrABadDescriptorIsRefused() async throws {
        let fixture = CoordinatorFixture()
        var registration = CoordinatorFixture.registration("p0", .prefill)
        registration.compatibility = "0123456789abcdef"
        let outbox = BatchingOutbox<WorkerInstruction>()
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.register(registration, outbox: outbox)
        }
        registration = CoordinatorFixture.registration("p0", .prefill)
        registration.descriptor = Array(registration.descriptor.prefix(10))
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.register(registration, outbox: outbox)
        }
        #expect(await fixture.coordinator.workerStatuses().isEmpty)
    }

    @Test func duplicateWorkerAndRequestIdsAreRefused() async throws {
        let (fixture, _, _, _) = try await admitted()
        await #expect {
            try await fixture.register("p0", .prefill, instance: 9)
        } throws: { error in
            if case .alreadyExists = error as? CoordinatorError { true } else { false }
        }
        await #expect {
            _ = try await fixture.coordinator.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        } throws: { error in
            if case .alreadyExists = error as? CoordinatorError { true } else { false }
        }
        #expect(await fixture.coordinator.inFlight == 1)
    }

    @Test func reportsForUnknownTicketsFromTheWrongWorkerOrInTheWrongStateChangeNothing() async throws {
        let (fixture, prefill, decode, ticket) = try await admitted()
        let c = fixture.coordinator
        let before = try await c.account(of: "r1")
        await #expect(throws: CoordinatorError.notFound("unknown ticket nope (never issued, or already finished)")) {
            try await c.report(.prefillStarted, ticket: "nope", from: prefill.identity)
        }
        await #expect {
            try await c.report(.prefillStarted, ticket: ticket, from: decode.identity)
        } throws: { error in
            if case .permissionDenied = error as? CoordinatorError { true } else { false }
        }
        await #expect {
            try await c.report(.firstToken(decodeSeconds: 0.01), ticket: ticket, from: decode.identity)
        } throws: { error in
            if case .failedPrecondition = error as? CoordinatorError { true } else { false }
        }
        #expect(try await c.account(of: "r1") == before)
    }

    @Test(arguments: [
        ([1, 2, 64], "outside"),  // the pool has 64 blocks
        ([1, 2, -1], "outside"),
        ([1, 2], "needs 3"),
        ([1, 1, 2], "twice"),
    ])
    func badBlockListsAreRefusedAndTheTicketIsUnchanged(blocks: [Int], message: String) async throws {
        let (fixture, prefill, decode, ticket) = try await admitted()
        let c = fixture.coordinator
        let before = try await c.account(of: "r1")
        await #expect {
            try await c.report(.prefillDone(sourceBlocks: blocks), ticket: ticket, from: prefill.identity)
        } throws: { error in
            (error as? CoordinatorError)?.description.contains(message) ?? false
        }
        await #expect {
            try await c.report(.reserved(destinationBlocks: blocks), ticket: ticket, from: decode.identity)
        } throws: { error in
            (error as? CoordinatorError)?.description.contains(message) ?? false
        }
        #expect(try await c.account(of: "r1") == before)
        #expect(await decode.pulls().isEmpty)
    }

    @Test func aTransferReportWithTheWrongByteCountIsRefused() async throws {
        let (fixture, prefill, decode, ticket) = try await admitted()
        let c = fixture.coordinator
        try await c.report(.reserved(destinationBlocks: [1, 2, 3]), ticket: ticket, from: decode.identity)
        try await c.report(.prefillDone(sourceBlocks: [4, 5, 6]), ticket: ticket, from: prefill.identity)
        await #expect(throws: CoordinatorError.self) {
            try await c.report(
                .transferDone(CoordinatorFixture.stats(blocks: 2), verified: true), ticket: ticket,
                from: decode.identity)
        }
        #expect(try await c.account(of: "r1").state == .transferring)
    }

    @Test func noPairWithRoomGivesResourceExhausted() async throws {
        let fixture = CoordinatorFixture()
        try await fixture.register("p0", .prefill)
        try await fixture.register("d0", .decode)
        await #expect {
            _ = try await fixture.coordinator.admit(
                AdmitRequest(requestID: "big", model: "tiny", promptTokens: 16 * 65))
        } throws: { error in
            if case .resourceExhausted = error as? CoordinatorError { true } else { false }
        }
        await #expect(throws: CoordinatorError.self) {
            _ = try await fixture.coordinator.admit(
                AdmitRequest(requestID: "other", model: "llama-3.1-8b", promptTokens: 16))
        }
    }
}
