import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import Prometheus
import Testing

@Suite struct CoordinatorLifecycleTests {
    @Test func fullLifecycleAccountsEveryComponentAndTheySumToTTFT() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let admission = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40))
        #expect(admission.blocks == 3)
        #expect(admission.prefill == prefill.identity && admission.decode == decode.identity)
        let t = admission.ticket

        fixture.clock.advance(milliseconds: 7)  // queue
        try await c.report(.prefillStarted, ticket: t, from: prefill.identity)
        try await c.report(.reserved(destinationBlocks: [9, 3, 60]), ticket: t, from: decode.identity)
        fixture.clock.advance(milliseconds: 50)  // prefill
        try await c.report(
            .prefillDone(sourceBlocks: [5, 6, 1], grant: 0xFEED_F00D), ticket: t, from: prefill.identity)
        let pull = try #require(await decode.pulls().first)
        #expect(
            pull.sourceBlocks == [5, 6, 1] && pull.destinationBlocks == [9, 3, 60] && pull.source == prefill.identity)
        #expect(pull.sourceGrant == 0xFEED_F00D)  // the prefill worker's data-plane grant reaches decode
        // …and survives the wire both ways.
        let (_, event) = try ProgressEvent.from(
            proto: ProgressEvent.prefillDone(sourceBlocks: [5], grant: 7).proto(ticket: t))
        #expect(event == .prefillDone(sourceBlocks: [5], grant: 7))
        #expect(try WorkerInstruction(proto: WorkerInstruction.pull(pull).proto) == .pull(pull))
        fixture.clock.advance(milliseconds: 6)  // transfer window: 4 ms measured + 2 ms around it
        try await c.report(
            .transferDone(CoordinatorFixture.stats(blocks: 3, seconds: 0.004), verified: true), ticket: t,
            from: decode.identity)
        #expect(await prefill.releases() == [t])  // prefill frees its blocks once decode confirms
        fixture.clock.advance(milliseconds: 15)  // first decode step
        try await c.report(.firstToken(decodeSeconds: 0.015), ticket: t, from: decode.identity)

        let account = try await c.account(of: "r1")
        #expect(account.state == .done)
        let parts = try #require(account.components)
        #expect(parts.queue == 7_000_000)
        #expect(parts.prefill == 50_000_000)
        #expect(parts.kvTransfer == 4_000_000)
        #expect(parts.coordination == 2_000_000)
        #expect(parts.firstDecode == 15_000_000)
        #expect(parts.ttft == 78_000_000)
        #expect(parts.sumOfParts == parts.ttft)
        #expect(account.transfer?.bytes == 3 * CoordinatorFixture.spec.blockBytes)
        let aggregates = await c.aggregates()
        #expect(aggregates.done == 1 && aggregates.transports["test"] == 1)
        #expect(abs((aggregates.components["ttft"]?.p50 ?? 0) - 0.078) < 1e-9)
    }

    @Test func aTransferThatFellBackToTCPIsCountedByReasonAndShownInTheAccount() async throws {
        let registry = PrometheusCollectorRegistry()
        let fixture = CoordinatorFixture(
            metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        let c = fixture.coordinator
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let t = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16)).ticket
        try await c.report(.reserved(destinationBlocks: [2]), ticket: t, from: decode.identity)
        try await c.report(.prefillDone(sourceBlocks: [1]), ticket: t, from: prefill.identity)
        var stats = CoordinatorFixture.stats(blocks: 1)
        stats.transport = "tcp"
        stats.fallback = "ucx_transfer"
        try await c.report(.transferDone(stats, verified: true), ticket: t, from: decode.identity)

        #expect(try await c.account(of: "r1").transfer?.fallback == "ucx_transfer")
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"handoff_kv_fallbacks_total{reason="ucx_transfer"} 1"#))
        #expect(text.contains(#"handoff_kv_fallbacks_total{reason="peer_without_ucx"} 0"#))
    }

    @Test func aDecodeWorkerLearnsAPrefillWorkersDescriptorOnlyWhenATicketFirstPairsThem() async throws {
        let fixture = CoordinatorFixture()
        let decodes = [try await fixture.register("d0", .decode), try await fixture.register("d1", .decode)]
        let prefill = try await fixture.register("p0", .prefill)
        // Registering hands out no keys.
        for decode in decodes { #expect(await decode.peersUp().isEmpty) }
        let c = fixture.coordinator
        let first = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        let paired = try #require(decodes.first { $0.identity == first.decode })
        let unpaired = try #require(decodes.first { $0.identity != first.decode })
        // The paired decode worker gets the prefill worker's descriptor before the ticket's reserve.
        let instructions = await paired.drain()
        let peerUp = instructions.firstIndex {
            if case .peerUp(let peer) = $0 { peer.identity == prefill.identity } else { false }
        }
        let reserve = instructions.firstIndex { if case .reserve(first.ticket, _, _) = $0 { true } else { false } }
        #expect(peerUp != nil && reserve != nil && peerUp! < reserve!, "\(instructions)")
        #expect(await unpaired.peersUp().isEmpty)
        // Once per pair: later tickets (spread over both decode workers by load) bring a copy only to a worker
        // that has none. (A mailbox keeps everything its worker was sent.)
        var pairings: [WorkerIdentity: Int] = [paired.identity: 1]
        for index in 2...5 {
            let next = try await c.admit(AdmitRequest(requestID: "r\(index)", model: "tiny", promptTokens: 16))
            pairings[next.decode, default: 0] += 1
        }
        #expect(pairings[unpaired.identity, default: 0] > 0, "load spreads the tickets over both decode workers")
        for decode in decodes { #expect(await decode.peersUp() == [prefill.identity]) }
    }

    @Test func aRestartedPrefillWorkerIsPairedAgainAndItsOldTicketsFail() async throws {
        let fixture = CoordinatorFixture()
        let old = try await fixture.register("p0", .prefill, instance: 1)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let first = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        await c.sessionEnded(old.identity, reason: "killed")
        let failed = try await c.account(of: "r1")
        #expect(failed.state == .failed && failed.failure.contains("lost"))
        #expect(await decode.releases().contains(first.ticket))
        let restarted = try await fixture.register("p0", .prefill, instance: 2)
        let instructions = await decode.drain()
        #expect(instructions.contains(.peerDown(old.identity, reason: "killed")))
        let second = try await c.admit(AdmitRequest(requestID: "r2", model: "tiny", promptTokens: 16))
        #expect(second.prefill == restarted.identity)
        // The new instance's descriptor came with its first ticket (the old one's with r1), and no other.
        #expect(await decode.peersUp() == [old.identity, restarted.identity])
        // A report from the dead instance is refused.
        await #expect(throws: CoordinatorError.self) {
            try await c.report(.prefillStarted, ticket: second.ticket, from: old.identity)
        }
    }

    @Test func losingThePrefillWorkerAfterTheTransferLeavesTheRequestAlone() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let admission = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40))
        let t = admission.ticket
        try await c.report(.reserved(destinationBlocks: [9, 3, 60]), ticket: t, from: decode.identity)
        try await c.report(.prefillDone(sourceBlocks: [5, 6, 1]), ticket: t, from: prefill.identity)
        try await c.report(
            .transferDone(CoordinatorFixture.stats(blocks: 3), verified: true), ticket: t, from: decode.identity)
        await c.sessionEnded(prefill.identity, reason: "killed")
        #expect(try await c.account(of: "r1").state == .decoding)
        #expect(await decode.releases().isEmpty)
        try await c.report(.firstToken(decodeSeconds: 0.01), ticket: t, from: decode.identity)
        #expect(try await c.account(of: "r1").state == .done)
    }

    @Test func recomputePolicyPrefillsAgainOnAnotherWorkerAfterAFailedLoad() async throws {
        let fixture = CoordinatorFixture()
        let p0 = try await fixture.register("p0", .prefill)
        let p1 = try await fixture.register("p1", .prefill)
        let decode = try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        let admission = try await c.admit(
            AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16, loadFailurePolicy: .recompute))
        let first = admission.prefill == p0.identity ? p0 : p1
        let second = admission.prefill == p0.identity ? p1 : p0
        try await c.report(.reserved(destinationBlocks: [2]), ticket: admission.ticket, from: decode.identity)
        try await c.report(.prefillDone(sourceBlocks: [0]), ticket: admission.ticket, from: first.identity)
        try await c.report(.transferFailed(reason: "endpoint reset"), ticket: admission.ticket, from: decode.identity)
        let account = try await c.account(of: "r1")
        #expect(account.state == .admitted && account.attempts == 2 && account.prefill == second.identity)
        #expect(await second.prefillOrders().count == 1)
        #expect(await first.releases() == [admission.ticket])
        #expect(await c.aggregates().recomputed == 1)
    }

    @Test func aRecomputeWaitsForAPairWithRoomAndFailsOnlyWhenTheQueueTimeoutRunsOut() async throws {
        let fixture = CoordinatorFixture { $0.queueTimeout = .seconds(5) }
        let p0 = try await fixture.register("p0", .prefill)
        try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        for id in ["r1", "r2"] {
            _ = try await c.admit(
                AdmitRequest(requestID: id, model: "tiny", promptTokens: 40, loadFailurePolicy: .recompute))
        }
        await c.sessionEnded(p0.identity, reason: "killed")
        // No prefill worker is left: both requests wait, still in flight, their ids still taken.
        let waiting = try await c.account(of: "r1")
        #expect(waiting.state == .awaitingPair && waiting.failure.contains("killed"))
        #expect(await c.inFlight == 2)
        await #expect(throws: CoordinatorError.self) {
            try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 40))
        }
        fixture.clock.advance(milliseconds: 1000)
        await c.sweep()
        let p1 = try await fixture.register("p1", .prefill)  // paired at once, not at the next sweep
        #expect(await p1.prefillOrders().count == 2)
        let recomputed = try await c.account(of: "r1")
        #expect(recomputed.attempts == 2 && recomputed.prefill == p1.identity)

        await c.sessionEnded(p1.identity, reason: "killed again")
        fixture.clock.advance(milliseconds: 4000)
        await c.sweep()
        #expect(try await c.account(of: "r2").state == .awaitingPair)  // still inside the queue timeout
        fixture.clock.advance(milliseconds: 2000)
        await c.sweep()
        let failed = try await c.account(of: "r2")
        #expect(
            failed.state == .failed && failed.failure.contains("killed again")
                && failed.failure.contains("no pair to recompute on"))
        #expect(await c.inFlight == 0)
    }

    @Test func aStalledTransferFailsWithAReasonAfterTheStallTimeout() async throws {
        let fixture = CoordinatorFixture { $0.transferTimeout = .seconds(2) }
        let (prefill, decode, _) = try await fixture.transferringTicket(sourceBlock: 0)
        let c = fixture.coordinator
        for _ in 0..<3 {
            fixture.clock.advance(milliseconds: 500)  // heartbeats keep both workers live
            await c.heartbeat(prefill.identity, freeBlocks: 63, queueDepth: 0)
            await c.heartbeat(decode.identity, freeBlocks: 63, queueDepth: 0)
        }
        await c.sweep()
        #expect(try await c.account(of: "r1").state == .transferring)
        fixture.clock.advance(milliseconds: 600)
        await c.heartbeat(prefill.identity, freeBlocks: 63, queueDepth: 0)
        await c.heartbeat(decode.identity, freeBlocks: 63, queueDepth: 0)
        await c.sweep()
        let account = try await c.account(of: "r1")
        #expect(account.state == .failed && account.failure.contains("stalled"))
    }

    @Test func aSilentWorkerIsLostAfterMissedHeartbeats() async throws {
        let fixture = CoordinatorFixture()
        let prefill = try await fixture.register("p0", .prefill)
        fixture.clock.advance(milliseconds: 3_500)
        await fixture.coordinator.sweep()
        let status = await fixture.coordinator.workerStatuses()
        #expect(status.first { $0.registration.identity == prefill.identity }?.live == false)
    }

    /// A coordinator that did not run for longer than the liveness timeout (starved of CPU, stopped) read no
    /// heartbeat meanwhile: its next sweep must not find every worker silent. Workers that stay silent once it runs
    /// again are lost as usual.
    @Test func aCoordinatorsOwnPauseDoesNotLoseItsWorkers() async throws {
        let fixture = CoordinatorFixture()
        let c = fixture.coordinator
        let prefill = try await fixture.register("p0", .prefill)
        let decode = try await fixture.register("d0", .decode)
        await c.sweep()
        fixture.clock.advance(milliseconds: 900)
        await c.heartbeat(decode.identity, freeBlocks: 63, queueDepth: 0)
        fixture.clock.advance(milliseconds: 4_000)  // no sweep ran: the coordinator was paused
        await c.sweep()
        var live = await c.workerStatuses().filter(\.live).map(\.registration.identity)
        #expect(Set(live) == [prefill.identity, decode.identity])
        // Running again, it hears from decode only: prefill is lost once it has been silent for 3 s of running.
        for step in 1...62 {
            fixture.clock.advance(milliseconds: 50)
            if step % 20 == 0 { await c.heartbeat(decode.identity, freeBlocks: 63, queueDepth: 0) }
            await c.sweep()
        }
        live = await c.workerStatuses().filter(\.live).map(\.registration.identity)
        #expect(live == [decode.identity])
    }

    @Test func shutdownStopsAdmittingAndFailsWhatIsLeftWithAReason() async throws {
        let fixture = CoordinatorFixture()
        try await fixture.register("p0", .prefill)
        try await fixture.register("d0", .decode)
        let c = fixture.coordinator
        _ = try await c.admit(AdmitRequest(requestID: "r1", model: "tiny", promptTokens: 16))
        await c.shutDown(grace: .zero)
        #expect(try await c.account(of: "r1").failure.contains("shut down"))
        await #expect(
            throws: CoordinatorError.unavailable("the coordinator is shutting down and admits no new requests")
        ) {
            _ = try await c.admit(AdmitRequest(requestID: "r2", model: "tiny", promptTokens: 16))
        }
    }
}
