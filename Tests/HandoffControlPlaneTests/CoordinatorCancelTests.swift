import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Testing

/// A router's cancellations and the engine endpoints it pairs requests by.
@Suite struct CoordinatorCancelTests {
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
}
