import ArgumentParser
import Foundation
import GRPCCore
import HandoffControlPlane
import HandoffCore
import HandoffProto
import Prometheus
import Synchronization

/// `handoff bench-control-plane`: full request lifecycles per second through a real coordinator over gRPC on
/// loopback, with fake workers that answer at once and move no bytes.
struct BenchControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-control-plane",
        abstract: "Measure coordinator throughput: admit → prefill → reserve → pull → transfer done → first token, over gRPC.")

    @Option(help: "Lifecycles to measure (after the warm-up).") var lifecycles = 20_000
    @Option(help: "Warm-up lifecycles, not measured.") var warmup = 2_000
    @Option(help: "Requests in flight at once.") var concurrency = 64
    @Option(help: "Fake prefill workers.") var prefillWorkers = 4
    @Option(help: "Fake decode workers.") var decodeWorkers = 4
    @Option(help: "Prompt tokens per request.") var promptTokens = 1024
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let token = BearerToken.random()
        var configuration = CoordinatorConfiguration()
        configuration.rollingWindow = max(lifecycles, 1)
        configuration.retainedAccounts = 10_000
        let coordinator = Coordinator(configuration: configuration, metrics: CoordinatorMetrics(factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())))
        let ports = AsyncStream.makeStream(of: Int.self)
        let server = CoordinatorServer(
            configuration: .init(host: "127.0.0.1", port: 0, metricsHost: nil, metricsPort: 0, token: token),
            coordinator: coordinator, registry: PrometheusCollectorRegistry()
        ) { port, _ in
            ports.continuation.yield(port)
            ports.continuation.finish()
        }
        let spec = KVLayoutSpec(preset: .tiny, blockTokens: 16, arrangement: .split, numBlocks: 1 << 20)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var port = 0
            for await bound in ports.stream { port = bound }
            let address = CoordinatorAddress(host: "127.0.0.1", port: port, token: token)
            for (role, count) in [(WorkerRole.prefill, prefillWorkers), (.decode, decodeWorkers)] {
                for index in 0..<count {
                    let worker = try NullEngineWorker(id: "\(role.rawValue)-\(index)", role: role, spec: spec, coordinator: address)
                    group.addTask { try await worker.run() }
                }
            }
            let result = try await withCoordinatorClient(address) { client in
                try await waitForWorkers(client)
                _ = try await drive(client, count: warmup, prefix: "warm")
                let before = await coordinator.aggregates().done
                let measured = try await drive(client, count: lifecycles, prefix: "run")
                let aggregates = await coordinator.aggregates()
                return (measured, aggregates, aggregates.done - before)
            }
            report(seconds: result.0.seconds, latency: result.0.latency, failures: result.0.failures, aggregates: result.1, done: result.2)
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

    /// Runs `count` lifecycles with `concurrency` routers; returns the wall time and router-side latency.
    private func drive<T: ClientTransport>(_ client: Handoff_V1_Coordinator.Client<T>, count: Int, prefix: String) async throws
        -> (seconds: Double, latency: [Double], failures: Int)
    {
        let next = LifecycleCounter()
        let start = ContinuousClock.now
        let tokens = UInt32(promptTokens)
        let histograms = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var histogram: [Double] = []
                    var failures = 0
                    while true {
                        let index = next.take()
                        if index >= count { break }
                        let began = ContinuousClock.now
                        let id = "\(prefix)-\(index)"
                        _ = try await client.admit(.with {
                            $0.requestID = id
                            $0.model = "tiny"
                            $0.promptTokens = tokens
                        })
                        let account = try await client.await(.with {
                            $0.requestID = id
                            $0.timeoutSeconds = 30
                        })
                        if account.state != "done" { failures += 1 }
                        let elapsed = ContinuousClock.now - began
                        histogram.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
                    }
                    return (histogram, failures)
                }
            }
            var merged: [Double] = []
            var failures = 0
            for try await (histogram, failed) in group {
                merged += histogram
                failures += failed
            }
            return (merged, failures)
        }
        let elapsed = ContinuousClock.now - start
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, histograms.0, histograms.1)
    }

    private func report(seconds: Double, latency unsorted: [Double], failures: Int, aggregates: CoordinatorAggregates, done: Int) {
        let rate = Double(lifecycles) / seconds
        let sorted = unsorted.sorted()
        let latency = (p50: Percentiles.nearestRank(sorted, 0.5), p99: Percentiles.nearestRank(sorted, 0.99))
        let decision = aggregates.decisionSeconds
        if json {
            let object: [String: Any] = [
                "lifecycles": lifecycles, "seconds": seconds, "lifecycles_per_s": rate, "failures": failures,
                "concurrency": concurrency, "prefill_workers": prefillWorkers, "decode_workers": decodeWorkers,
                "lifecycle_latency_us": ["p50": latency.p50, "p99": latency.p99],
                "decision_us": ["p50": decision.p50 * 1e6, "p90": decision.p90 * 1e6, "p99": decision.p99 * 1e6],
                "coordinator_done": done,
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%d lifecycles in %.2f s: %.0f lifecycles/s (%d in flight, %d+%d fake workers, %d failed)",
                lifecycles, seconds, rate, concurrency, prefillWorkers, decodeWorkers, failures))
            print(String(format: "router-side lifecycle latency (admit + await): p50 %.0f µs, p99 %.0f µs", latency.p50, latency.p99))
            print(String(format: "coordinator decision time: p50 %.1f µs, p90 %.1f µs, p99 %.1f µs", decision.p50 * 1e6, decision.p90 * 1e6, decision.p99 * 1e6))
        }
    }
}

/// Hands out lifecycle indices to the router tasks.
final class LifecycleCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
