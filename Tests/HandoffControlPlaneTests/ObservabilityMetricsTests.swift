import Foundation
import HandoffControlProtocol
import HandoffCore
import Prometheus
import Testing

@testable import HandoffControlPlane

/// The series the dashboard and the alerts read, and the live view's snapshot: what a run sets, and that nothing a
/// worker reports can grow the registry.
@Suite struct ObservabilityMetricsTests {
    private func emitted(_ registry: PrometheusCollectorRegistry) -> String {
        String(decoding: registry.emitToBuffer(), as: UTF8.self)
    }

    @Test func aTransferCountsItsBytesByTransportAndByPairUnderBoundedLabels() async throws {
        let registry = PrometheusCollectorRegistry()
        let fixture = CoordinatorFixture(
            metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        let (_, decode, ticket) = try await fixture.transferringTicket()
        var stats = CoordinatorFixture.stats(blocks: 1)
        stats.transport = "made-up-by-a-worker"
        try await fixture.coordinator.report(
            .transferDone(stats, verified: true), ticket: ticket, from: decode.identity)
        let text = emitted(registry)
        #expect(text.contains(#"handoff_kv_transfer_bytes_total{transport="other"} \#(stats.bytes)"#))
        #expect(text.contains(#"handoff_kv_transfer_bytes_total{transport="ucx"} 0"#))
        #expect(!text.contains("made-up-by-a-worker"))
        #expect(text.contains(#"handoff_pair_transfers_total{prefill="p0",decode="d0"} 1"#))
        #expect(text.contains(#"handoff_pair_kv_bytes_total{prefill="p0",decode="d0"} \#(stats.bytes)"#))
    }

    @Test func pairSeriesStopAtTheCapAndTheRestCountAsOther() {
        let registry = PrometheusCollectorRegistry()
        let metrics = CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let pairs = CoordinatorMetrics.maxPairSeries + 50
        for index in 0..<pairs { metrics.pairTransferred(prefill: "p\(index)", decode: "d", bytes: 10) }
        let lines = emitted(registry).split(separator: "\n").filter { $0.hasPrefix("handoff_pair_transfers_total{") }
        let others = lines.filter { $0.contains(#"prefill="other""#) }
        // The first pairs have series of their own, the 50 beyond them one series together.
        #expect(lines.count == CoordinatorMetrics.maxPairSeries + 1)
        #expect(others == [#"handoff_pair_transfers_total{prefill="other",decode="other"} 50"#])
    }

    @Test func theSweepSetsTicketsInFlightAndTheAgeOfTheOldestTransfer() async throws {
        let registry = PrometheusCollectorRegistry()
        let fixture = CoordinatorFixture(
            metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        _ = try await fixture.transferringTicket()
        fixture.clock.advance(milliseconds: 1_500)
        await fixture.coordinator.sweep()
        let text = emitted(registry)
        #expect(text.contains(#"handoff_tickets_in_flight{state="transferring"} 1.0"#))
        #expect(text.contains(#"handoff_tickets_in_flight{state="admitted"} 0.0"#))
        #expect(text.contains("handoff_oldest_transfer_seconds 1.5"))
    }

    @Test func aWorkerLostCountsButAnOrderlyShutdownDoesNot() async throws {
        let registry = PrometheusCollectorRegistry()
        let fixture = CoordinatorFixture(
            metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        let broken = try await fixture.register("d0", .decode)
        let leaving = try await fixture.register("d1", .decode)
        await fixture.coordinator.sessionEnded(broken.identity, reason: "stream broke")
        await fixture.coordinator.sessionEnded(leaving.identity, reason: "worker shut down", graceful: true)
        let text = emitted(registry)
        #expect(text.contains(#"handoff_workers_lost_total{role="decode"} 1"#))
        #expect(text.contains(#"handoff_workers_lost_total{role="prefill"} 0"#))
    }

    @Test func theLiveViewSnapshotShowsTheFleetPairsAndTTFTButNoKeys() async throws {
        let fixture = CoordinatorFixture()
        let (_, decode, ticket) = try await fixture.transferringTicket()
        fixture.clock.advance(milliseconds: 5)  // the transfer's window around its measured 4 ms
        try await fixture.coordinator.report(
            .transferDone(CoordinatorFixture.stats(blocks: 1), verified: true), ticket: ticket, from: decode.identity)
        try await fixture.coordinator.report(.firstToken(decodeSeconds: 0.01), ticket: ticket, from: decode.identity)
        let body = await LiveView(coordinator: fixture.coordinator).snapshot()
        let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let workers = try #require(snapshot["workers"] as? [[String: Any]])
        #expect(workers.map { $0["id"] as? String } == ["d0", "p0"])
        #expect(workers.allSatisfy { $0["state"] as? String == "live" && $0["total_blocks"] as? Int == 64 })
        #expect(workers.allSatisfy { Set($0.keys).isDisjoint(with: ["descriptor", "endpoint", "report_key"]) })
        let pairs = try #require(snapshot["pairs"] as? [[String: Any]])
        #expect(pairs.count == 1 && pairs[0]["prefill"] as? String == "p0" && pairs[0]["completed"] as? Int == 1)
        let totals = try #require(snapshot["totals"] as? [String: Any])
        #expect(totals["done"] as? Int == 1 && totals["in_flight"] as? Int == 0)
        let ttft = try #require(snapshot["ttft"] as? [String: [String: Double]])
        #expect(Set(ttft.keys).isSuperset(of: ["ttft", "queue", "prefill", "kv_transfer", "first_decode"]))
        #expect((ttft["kv_transfer"]?["p50"] ?? 0) > 0)
        #expect(String(decoding: LiveView(coordinator: fixture.coordinator).page, as: UTF8.self).contains("api/live"))
    }

    @Test func pollingClientsShareOneSnapshotPerInterval() async throws {
        let fixture = CoordinatorFixture()
        try await fixture.register("p0", .prefill)
        var view = LiveView(coordinator: fixture.coordinator)
        view.reuseInterval = .seconds(60)
        let first = await view.snapshot()
        try await fixture.register("d0", .decode)
        #expect(await view.snapshot() == first)  // served again: the coordinator was not asked
        view.reuseInterval = .zero
        let workers = try #require(
            try JSONSerialization.jsonObject(with: Data(await view.snapshot())) as? [String: Any])["workers"]
        #expect((workers as? [[String: Any]])?.count == 2)
    }
}
