import ArgumentParser
import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Prometheus
import Synchronization

/// `handoff bench-control-plane`: full request lifecycles per second through a real coordinator over gRPC on
/// loopback, with fake workers that answer at once and move no bytes.
struct BenchControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-control-plane",
        abstract:
            "Measure coordinator throughput: admit → prefill → reserve → pull → transfer done → first token, over gRPC."
    )

    @Option(help: "Lifecycles to measure (after the warm-up).") var lifecycles = 20_000
    @Option(help: "Warm-up lifecycles, not measured.") var warmup = 2_000
    @Option(help: "Requests in flight at once.") var concurrency = 64
    @Option(help: "How routers talk to the coordinator: route (streams) or unary (Admit + Await per request).")
    var api: ControlPlaneLoad.API = .route
    @Option(help: "Route streams the requests in flight are spread over (with --api route).") var routers = 4
    @Option(help: "Fake prefill workers.") var prefillWorkers = 4
    @Option(help: "Fake decode workers.") var decodeWorkers = 4
    @Option(help: "Prompt tokens per request.") var promptTokens = 1024
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let token = BearerToken.random()
        var configuration = CoordinatorConfiguration()
        configuration.rollingWindow = max(lifecycles, 1)
        configuration.retainedAccounts = 10_000
        let coordinator = Coordinator(
            configuration: configuration,
            metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())))
        let ports = AsyncStream.makeStream(of: Int.self)
        let server = CoordinatorServer(
            configuration: .init(host: "127.0.0.1", port: 0, metricsHost: nil, metricsPort: 0, token: token),
            coordinator: coordinator, registry: PrometheusCollectorRegistry()
        ) { port, _ in
            ports.continuation.yield(port)
            ports.continuation.finish()
        }
        let spec = KVLayoutSpec(preset: .tiny, blockTokens: 16, arrangement: .split, numBlocks: 1 << 16)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var port = 0
            for await bound in ports.stream { port = bound }
            let address = CoordinatorAddress(host: "127.0.0.1", port: port, token: token)
            for (role, count) in [(WorkerRole.prefill, prefillWorkers), (.decode, decodeWorkers)] {
                for index in 0..<count {
                    let worker = try await NullEngineWorker(
                        id: "\(role.rawValue)-\(index)", role: role, spec: spec, coordinator: address)
                    group.addTask { try await worker.run() }
                }
            }
            let (measured, aggregates, done) = try await withCoordinatorClient(address) { client in
                try await waitForWorkers(client)
                let load = ControlPlaneLoad(
                    client: client, api: api, concurrency: concurrency, routers: routers, model: "tiny",
                    promptTokens: UInt32(promptTokens))
                _ = try await load.run(count: warmup, prefix: "warm")
                let before = await coordinator.aggregates().done
                let measured = try await load.run(count: lifecycles, prefix: "run")
                let aggregates = await coordinator.aggregates()
                return (measured, aggregates, aggregates.done - before)
            }
            report(measured, aggregates: aggregates, done: done)
            group.cancelAll()
        }
    }

    private func waitForWorkers(_ client: Handoff_V1_Coordinator.Client<some ClientTransport>) async throws {
        for _ in 0..<500 {
            if try await client.listWorkers(.init()).workers.count >= prefillWorkers + decodeWorkers { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchError.peerFailed("fake workers did not register")
    }

    private func report(_ measured: ControlPlaneLoad.Result, aggregates: CoordinatorAggregates, done: Int) {
        let (seconds, failures) = (measured.seconds, measured.failures)
        let rate = Double(lifecycles) / seconds
        let sorted = measured.latencyMicroseconds.sorted()
        let latency = (p50: Percentiles.nearestRank(sorted, 0.5), p99: Percentiles.nearestRank(sorted, 0.99))
        let decision = aggregates.decisionSeconds
        if json {
            let object: [String: Any] = [
                "lifecycles": lifecycles, "seconds": seconds, "lifecycles_per_s": rate, "failures": failures,
                "concurrency": concurrency, "api": api.rawValue, "routers": api == .route ? routers : concurrency,
                "prefill_workers": prefillWorkers, "decode_workers": decodeWorkers,
                "lifecycle_latency_us": ["p50": latency.p50, "p99": latency.p99],
                "decision_us": ["p50": decision.p50 * 1e6, "p90": decision.p90 * 1e6, "p99": decision.p99 * 1e6],
                "coordinator_done": done,
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format: "%d lifecycles in %.2f s: %.0f lifecycles/s (%d in flight, %d+%d fake workers, %d failed)",
                    lifecycles, seconds, rate, concurrency, prefillWorkers, decodeWorkers, failures)
                    + ", api \(api.rawValue)")
            print(
                String(
                    format: "router-side lifecycle latency (admit sent → account received): p50 %.0f µs, p99 %.0f µs",
                    latency.p50, latency.p99))
            print(
                String(
                    format: "coordinator decision time: p50 %.1f µs, p90 %.1f µs, p99 %.1f µs", decision.p50 * 1e6,
                    decision.p90 * 1e6, decision.p99 * 1e6))
        }
    }
}

/// Hands out lifecycle indices to the router tasks.
final class LifecycleCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
