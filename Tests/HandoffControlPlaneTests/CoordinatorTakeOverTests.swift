import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import Synchronization
import Testing

/// What a new leader does with the fleet its predecessor left in the registry, without etcd: the store is a
/// recorder.
@Suite struct CoordinatorTakeOverTests {
    @Test func anAdoptedWorkerIsPairedAtOnceAndGetsItsHeldInstructionsAfterRegisteredWhenItReconnects() async throws {
        let fixture = CoordinatorFixture()
        let store = RecordingStore()
        let prefill = CoordinatorFixture.registration("p0", .prefill, instance: 7)
        let decode = CoordinatorFixture.registration("d0", .decode, instance: 8)
        let adopted = await fixture.coordinator.takeOver([prefill, decode], store: store, term: 4)
        #expect(Set(adopted) == [prefill.identity, decode.identity])

        // Paired before either session is back: the ticket id carries the term.
        let admission = try await fixture.coordinator.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        #expect(admission.ticket.hasPrefix("t4."))

        let prefillMailbox = Mailbox(identity: prefill.identity)
        try await fixture.coordinator.register(prefill, outbox: prefillMailbox.outbox)
        let received = await prefillMailbox.drain()
        guard case .registered = received.first else {
            Issue.record("the first instruction after reconnecting was \(String(describing: received.first))")
            return
        }
        #expect(
            received.dropFirst().contains {
                if case .prefill(let order) = $0 { order.ticket == admission.ticket } else { false }
            })
        // Reattaching writes nothing new: the entry is the predecessor's.
        #expect(store.changes.filter { $0.hasPrefix("registered") }.isEmpty)
    }

    @Test func aNewInstanceReplacesTheAdoptedOneAndItsTicketsAreNotLeftOnTheOldInstance() async throws {
        let fixture = CoordinatorFixture()
        let store = RecordingStore()
        let old = CoordinatorFixture.registration("p0", .prefill, instance: 1)
        await fixture.coordinator.takeOver(
            [old, CoordinatorFixture.registration("d0", .decode, instance: 2)], store: store, term: 2)
        let admission = try await fixture.coordinator.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16, loadFailurePolicy: .fail))

        // The worker restarted while there was no leader: its new instance registers.
        let replacement = try await fixture.register("p0", .prefill, instance: 99)
        let workers = await fixture.coordinator.workerStatuses()
        #expect(
            workers.filter { $0.registration.identity.id == "p0" && $0.live }.map(\.registration.identity.instance) == [
                99
            ])
        #expect(store.changes.contains("removed \(old.identity)"))
        #expect(store.changes.contains("registered \(replacement.identity)"))
        // The ticket paired with the stale instance failed with a reason instead of waiting for it.
        let account = try await fixture.coordinator.account(of: "r1")
        #expect(account.state == .failed, "ticket \(admission.ticket) is \(account.state)")
        #expect(account.failure.contains("replaced by instance 99"))
        #expect(await replacement.prefillOrders().isEmpty)
    }

    @Test func anAdoptedWorkerThatNeverReconnectsIsLostAfterTheLivenessTimeout() async throws {
        let fixture = CoordinatorFixture()
        let store = RecordingStore()
        await fixture.coordinator.takeOver(
            [CoordinatorFixture.registration("d0", .decode, instance: 3)], store: store, term: 2)
        fixture.clock.advance(milliseconds: 10_000)
        await fixture.coordinator.sweep()
        let workers = await fixture.coordinator.workerStatuses()
        #expect(workers.filter(\.live).isEmpty)
        #expect(store.changes == ["removed \(WorkerIdentity(id: "d0", instance: 3))"])
    }

    @Test func registrationsHeartbeatsAndLossesReachTheStoreButAShutdownLeavesTheRegistryToTheSuccessor() async throws {
        let fixture = CoordinatorFixture()
        let store = RecordingStore()
        await fixture.coordinator.takeOver([], store: store, term: 1)
        let worker = try await fixture.register("p0", .prefill, instance: 5)
        await fixture.coordinator.heartbeat(worker.identity, freeBlocks: 64, queueDepth: 0)
        await fixture.coordinator.sessionEnded(worker.identity, reason: "gone")
        #expect(store.changes == ["registered", "heartbeat", "removed"].map { "\($0) \(worker.identity)" })

        let decode = try await fixture.register("d0", .decode, instance: 6)
        await fixture.coordinator.shutDown(grace: .zero)
        #expect(store.changes.last == "registered \(decode.identity)", "a shutdown removed entries: \(store.changes)")
    }
}

/// A leader whose fence stops holding (its etcd lease lapsed while it was paused) acts on nothing afterwards.
@Suite struct LeadershipFenceTests {
    @Test func aLeaderWhoseFenceLapsedAdmitsNothingClosesItsSessionsAndSendsItsWaitersToTheLeader() async throws {
        let fixture = CoordinatorFixture()
        let fence = SwitchedFence()
        await fixture.coordinator.takeOver([], store: RecordingStore(), term: 3, fence: fence)
        let prefill = try await fixture.register("p0", .prefill, instance: 1)
        let decode = try await fixture.register("d0", .decode, instance: 2)
        let admission = try await fixture.coordinator.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        #expect(admission.ticket.hasPrefix("t3."))
        let coordinator = fixture.coordinator
        let waiting = Task { () async -> Result<RequestAccount?, CoordinatorError> in
            do throws(CoordinatorError) {
                return .success(try await coordinator.outcome(of: "r1"))
            } catch {
                return .failure(error)
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let sentBefore = await decode.drain().count

        // The lease lapsed behind the coordinator's back: the next call finds out and refuses, before acting.
        fence.holds.store(false, ordering: .releasing)
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.admit(AdmitRequest(requestID: "r2", model: "tiny", promptTokens: 16))
        }
        // The waiter on r1 is told to go to the leader, not that r1 failed or timed out.
        let result = await waiting.value
        guard case .failure(.unavailable) = result else {
            Issue.record("the waiter got \(result)")
            return
        }
        // Nothing more went to the workers, and their sessions were closed so that they find the leader.
        #expect(await decode.drain().count == sentBefore)
        #expect(prefill.outbox.isFinished && decode.outbox.isFinished)
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.report(
                .prefillStarted, ticket: admission.ticket, from: prefill.identity)
        }
        await #expect(throws: CoordinatorError.self) {
            try await fixture.coordinator.register(
                CoordinatorFixture.registration("p1", .prefill, instance: 3), outbox: BatchingOutbox())
        }
        #expect(await fixture.coordinator.isLeading == false)

        // Elected again later, it starts from the registry, with nothing of the old leadership left.
        fence.holds.store(true, ordering: .releasing)
        await fixture.coordinator.takeOver([], store: RecordingStore(), term: 5, fence: fence)
        let again = try await fixture.register("p0", .prefill, instance: 1)
        _ = try await fixture.register("d0", .decode, instance: 2)
        let readmitted = try await fixture.coordinator.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        #expect(readmitted.ticket.hasPrefix("t5."))
        #expect(await again.prefillOrders().map(\.ticket) == [readmitted.ticket])
    }
}

/// A fence a test opens and closes.
final class SwitchedFence: LeadershipFence {
    let holds = Atomic<Bool>(true)
    var holdsLeadership: Bool { holds.load(ordering: .acquiring) }
}

/// Records what the coordinator asked of its registry store.
final class RecordingStore: WorkerRegistryStore {
    private let recorded = Mutex<[String]>([])

    var changes: [String] { recorded.withLock { $0 } }

    func registered(_ registration: WorkerRegistration) {
        recorded.withLock { $0.append("registered \(registration.identity)") }
    }

    func heartbeat(_ identity: WorkerIdentity) { recorded.withLock { $0.append("heartbeat \(identity)") } }

    func removed(_ identity: WorkerIdentity) { recorded.withLock { $0.append("removed \(identity)") } }
}
