import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffProto
import HandoffUCX
import Testing

/// What ListWorkers tells about each worker: how its session ended, and what its data plane offers.
@Suite struct WorkerListingTests {
    private func listed(_ fixture: CoordinatorFixture) async -> [String: Handoff_V1_WorkerInfo] {
        Dictionary(
            uniqueKeysWithValues: await fixture.coordinator.workerStatuses().map {
                ($0.registration.identity.id, $0.proto)
            })
    }

    @Test func lostWorkersSayWhetherTheirSessionEndedInOrder() async throws {
        let fixture = CoordinatorFixture()
        let stopped = try await fixture.register("p0", .prefill)
        let broken = try await fixture.register("d0", .decode)
        await fixture.coordinator.sessionEnded(
            stopped.identity, reason: "the worker closed its session", graceful: true)
        await fixture.coordinator.sessionEnded(broken.identity, reason: "stream broke")
        let workers = await listed(fixture)
        #expect(workers["p0"]?.state == "lost" && workers["p0"]?.lostGracefully == true)
        #expect(workers["p0"]?.lostReason == "the worker closed its session")
        #expect(workers["d0"]?.state == "lost" && workers["d0"]?.lostGracefully == false)
        #expect(workers["d0"]?.lostReason == "stream broke")
    }

    @Test func offersEndpointsMemoryTypeAndHostComeFromTheRegisteredDescriptor() async throws {
        let fixture = CoordinatorFixture()
        var registration = CoordinatorFixture.registration("p0", .prefill)
        var descriptor = try PoolDescriptor(decoding: registration.descriptor)
        descriptor.transport = "tcp"
        descriptor.host = "boot-1"
        descriptor.transportAddress = Array("10.0.0.5:4000,127.0.0.1:4000".utf8)
        registration.descriptor = descriptor.encoded()
        try await fixture.coordinator.register(registration, outbox: Mailbox(identity: registration.identity).outbox)
        let worker = try #require(await listed(fixture)["p0"])
        #expect(worker.offers.map(\.transport) == ["tcp"])
        #expect(worker.offers.first?.endpoints == ["10.0.0.5:4000", "127.0.0.1:4000"])
        #expect(worker.memoryType == "host" && worker.hostIdentity == "boot-1")
        #expect(worker.state == "live" && worker.lostReason.isEmpty)
    }
}
