import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Testing

/// What the coordinator does for engines a router drives: cancellations, endpoints, blocks decode already holds.
@Suite struct EngineDrivenRequestTests {
    @Test func cancellingARequestFailsItsTicketAndReleasesBothWorkers() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let t = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40)).ticket
        try await c.report(.prefillDone(sourceBlocks: [5, 6, 1]), ticket: t, from: prefill.identity)

        #expect(try await c.cancel(requestID: "r1", reason: "the client disconnected"))
        let account = try await c.account(of: "r1")
        #expect(account.state == .failed && account.failure == "cancelled: the client disconnected")
        #expect(await prefill.releases() == [t])
        #expect(await decode.releases() == [t])
        // Over already: a second cancel changes nothing, and neither does one for an id never admitted.
        #expect(try await c.cancel(requestID: "r1", reason: "again") == false)
        #expect(try await c.cancel(requestID: "never", reason: "") == false)
        #expect(try await c.account(of: "r1").failure == "cancelled: the client disconnected")
        await #expect(throws: CoordinatorError.self) { try await c.cancel(requestID: "", reason: "") }
        // The blocks are free again: the next request is admitted on the same pair.
        #expect(try await c.admit(AdmitRequest(requestID: "r2", model: "tiny", promptTokens: 16 * 64)).blocks == 64)
    }

    @Test func admissionAnswersThePairedEnginesEndpoints() async throws {
        let fixture = CoordinatorFixture()
        var prefill = CoordinatorFixture.registration("p0", .prefill)
        prefill.endpoint = "http://10.0.0.5:8000"
        try await fixture.coordinator.register(prefill, outbox: Mailbox(identity: prefill.identity).outbox)
        try await fixture.register("d0", .decode)
        let admission = try await fixture.coordinator.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        #expect(admission.prefillEndpoint == "http://10.0.0.5:8000" && admission.decodeEndpoint.isEmpty)
        #expect(admission.proto.prefillEndpoint == "http://10.0.0.5:8000")
        let listed = await fixture.coordinator.workerStatuses().first { $0.registration.identity.id == "p0" }
        #expect(listed?.proto.endpoint == "http://10.0.0.5:8000")
    }

    @Test(arguments: [
        "ftp://host/", "http://a b", "http://" + String(repeating: "a", count: 600), "http://\u{7}x", "10.0.0.5:8000",
    ])
    func aRegistrationWithAnEndpointThatIsNotAnHTTPURLIsRefused(_ endpoint: String) throws {
        var message = CoordinatorFixture.registration("p0", .prefill).proto
        message.endpoint = endpoint
        #expect(throws: ProtocolError.self) { try WorkerRegistration(proto: message) }
        message.endpoint = "https://engine-0.pd.svc:8000"
        #expect(try WorkerRegistration(proto: message).endpoint == "https://engine-0.pd.svc:8000")
    }

    @Test func blocksDecodeAlreadyHoldsDoNotMoveAndTheAccountCountsOnlyTheRest() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let t = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40)).ticket  // 3 blocks
        for cached in [3, 4, -1] {  // at least one block must move
            await #expect(throws: CoordinatorError.self) {
                try await c.report(
                    .reserved(destinationBlocks: [], cachedBlocks: cached), ticket: t, from: decode.identity)
            }
        }
        await #expect(throws: CoordinatorError.self) {  // three blocks where one is cached
            try await c.report(
                .reserved(destinationBlocks: [9, 3, 60], cachedBlocks: 1), ticket: t, from: decode.identity)
        }
        try await c.report(.reserved(destinationBlocks: [3, 60], cachedBlocks: 1), ticket: t, from: decode.identity)
        try await c.report(.prefillDone(sourceBlocks: [5, 6, 1]), ticket: t, from: prefill.identity)
        let pull = try #require(await decode.pulls().first)
        #expect(pull.sourceBlocks == [6, 1] && pull.destinationBlocks == [3, 60])
        await #expect(throws: CoordinatorError.self) {  // the bytes of three blocks: more than moved
            try await c.report(
                .transferDone(CoordinatorFixture.stats(blocks: 3), verified: true), ticket: t, from: decode.identity)
        }
        try await c.report(
            .transferDone(CoordinatorFixture.stats(blocks: 2), verified: true), ticket: t, from: decode.identity)
        try await c.report(.firstToken(decodeSeconds: 0.01), ticket: t, from: decode.identity)
        let account = try await c.account(of: "r1")
        #expect(account.state == .done && account.transfer?.bytes == 2 * CoordinatorFixture.spec.blockBytes)
        // The wire carries the count.
        let (_, event) = try ProgressEvent.from(
            proto: ProgressEvent.reserved(destinationBlocks: [3], cachedBlocks: 2).proto(ticket: t))
        #expect(event == .reserved(destinationBlocks: [3], cachedBlocks: 2))
    }

    @Test func aLoadTheEngineCouldNotCheckIsDoneButNotVerified() async throws {
        let fixture = CoordinatorFixture()
        let (prefill, decode, t) = try await fixture.transferringTicket()
        let c = fixture.coordinator
        let unchecked = ProgressEvent.transferDone(CoordinatorFixture.stats(blocks: 1), verified: false, checked: false)
        let (_, onTheWire) = try ProgressEvent.from(proto: unchecked.proto(ticket: t))
        #expect(onTheWire == unchecked)
        try await c.report(onTheWire, ticket: t, from: decode.identity)
        #expect(await prefill.releases() == [t])  // the load counts: prefill frees its blocks
        try await c.report(.firstToken(decodeSeconds: 0.01), ticket: t, from: decode.identity)
        let account = try await c.account(of: "r1")
        #expect(account.state == .done && !account.verified)
    }

    @Test func aPushModeRequestIsWrittenByPrefillAndNeverPulled() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let t = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40, transferMode: .push))
            .ticket  // 3 blocks
        #expect(await decode.reserves().map(\.push) == [true])
        try await c.report(.prefillStarted, ticket: t, from: prefill.identity)
        // No push target yet: a push report is refused and changes nothing.
        await #expect(throws: CoordinatorError.self) {
            try await c.report(
                .pushDone(CoordinatorFixture.stats(blocks: 2), exposedSeconds: 0.001), ticket: t, from: prefill.identity
            )
        }
        #expect(try await c.account(of: "r1").reserved == false)
        let reservation = Task { try await c.reservation(of: "r1") }  // a push-mode router waits for this
        try await c.report(
            .reserved(destinationBlocks: [3, 60], cachedBlocks: 1, grant: 77), ticket: t, from: decode.identity)
        let reserved = try #require(try await reservation.value)
        #expect(reserved.reserved && reserved.state == .prefilling && reserved.proto.reserved)
        let target = try #require(await prefill.pushTargets().first)
        #expect(target.ticket == t && target.decode == decode.identity && target.grant == 77)
        #expect(target.destinationBlocks == [3, 60] && target.cachedBlocks == 1 && !target.decodeDescriptor.isEmpty)
        for bad in [
            ProgressEvent.pushDone(CoordinatorFixture.stats(blocks: 3), exposedSeconds: 0.001),  // more than moves
            .pushDone(CoordinatorFixture.stats(blocks: 2), exposedSeconds: -1),
            .pushDone(CoordinatorFixture.stats(blocks: 2), exposedSeconds: 1e11),
            .pushDone(CoordinatorFixture.stats(blocks: 2, seconds: .infinity), exposedSeconds: 0),
        ] {
            await #expect(throws: CoordinatorError.self) { try await c.report(bad, ticket: t, from: prefill.identity) }
        }
        await #expect(throws: CoordinatorError.self) {  // only the prefill worker pushes
            try await c.report(
                .pushDone(CoordinatorFixture.stats(blocks: 2), exposedSeconds: 0.001), ticket: t, from: decode.identity)
        }
        fixture.clock.advance(milliseconds: 100)
        let pushed = ProgressEvent.pushDone(CoordinatorFixture.stats(blocks: 2, seconds: 0.05), exposedSeconds: 0.002)
        let (_, onTheWire) = try ProgressEvent.from(proto: pushed.proto(ticket: t))
        #expect(onTheWire == pushed)
        try await c.report(onTheWire, ticket: t, from: prefill.identity)
        // Decode is told the KV is there: nothing to pull.
        let landing = try #require(await decode.pulls().first)
        #expect(landing.pushed?.bytes == 2 * CoordinatorFixture.spec.blockBytes && landing.sourceBlocks.isEmpty)
        #expect(landing.destinationBlocks == [3, 60])
        let wire = try WorkerInstruction(proto: WorkerInstruction.pull(landing).proto)
        #expect(wire == .pull(landing))
        // Prefill hands its blocks over later: they are released at once, the KV being with decode.
        try await c.report(.prefillDone(sourceBlocks: [5, 6, 1]), ticket: t, from: prefill.identity)
        #expect(await prefill.releases() == [t])
        fixture.clock.advance(milliseconds: 5)
        try await c.report(
            .transferDone(landing.pushed!, verified: false, checked: false), ticket: t, from: decode.identity)
        #expect(await prefill.releases() == [t])  // released once
        fixture.clock.advance(milliseconds: 20)
        try await c.report(.firstToken(decodeSeconds: 0.02), ticket: t, from: decode.identity)
        let account = try await c.account(of: "r1")
        #expect(account.state == .done && account.transferMode == .push && account.proto.transferMode == "push")
        let parts = try #require(account.components)
        // Only the 2 ms prefill waited after its last layer count as transfer; the rest overlapped the prefill.
        #expect(parts.kvTransfer == 2_000_000 && parts.prefill == 98_000_000)
        #expect(parts.coordination == 5_000_000 && parts.firstDecode == 20_000_000 && parts.ttft == 125_000_000)
    }

    @Test func aPushModeRequestWhosePrefillDeclinedIsPulled() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let t = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40, transferMode: .push))
            .ticket
        try await c.report(.reserved(destinationBlocks: [3, 60, 9], grant: 77), ticket: t, from: decode.identity)
        #expect(await prefill.pushTargets().count == 1)
        try await c.report(.prefillDone(sourceBlocks: [5, 6, 1], grant: 12), ticket: t, from: prefill.identity)
        let pull = try #require(await decode.pulls().first)
        #expect(pull.pushed == nil && pull.sourceBlocks == [5, 6, 1] && pull.sourceGrant == 12)
        await #expect(throws: CoordinatorError.self) {  // too late to push now
            try await c.report(
                .pushDone(CoordinatorFixture.stats(blocks: 3), exposedSeconds: 0), ticket: t, from: prefill.identity)
        }
        try await c.report(
            .transferDone(CoordinatorFixture.stats(blocks: 3), verified: true), ticket: t, from: decode.identity)
        try await c.report(.firstToken(decodeSeconds: 0.01), ticket: t, from: decode.identity)
        #expect(try await c.account(of: "r1").transferMode == .pull)
        // A request that ended answers a reservation wait at once; an unknown one is refused.
        #expect(try await c.reservation(of: "r1")?.state == .done)
        await #expect(throws: CoordinatorError.self) { try await c.reservation(of: "never") }
        // A pull-mode request asks decode for no grant, and its prefill gets no target.
        let t2 = try await c.admit(AdmitRequest(requestID: "r2", model: "tiny", promptTokens: 16)).ticket
        #expect(await decode.reserves().map(\.push) == [true, false])
        try await c.report(.reserved(destinationBlocks: [4], grant: 5), ticket: t2, from: decode.identity)
        #expect(await prefill.pushTargets().map(\.ticket) == [t])
        // A lost decode worker is announced to prefill workers too: they may hold a push connection to it.
        await c.sessionEnded(decode.identity, reason: "gone")
        #expect(await prefill.drain().contains(.peerDown(decode.identity, reason: "gone")))
    }
}
