import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import HandoffProto
import Synchronization

/// `handoff bench-control-plane`: full request lifecycles per second through a real coordinator process over gRPC
/// on loopback, with fake workers (this process) that answer at once and move no bytes.
struct BenchControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-control-plane",
        abstract:
            "Measure coordinator throughput: admit → prefill → reserve → pull → transfer done → first token, over gRPC.",
        discussion: """
            The coordinator runs as its own process (`handoff coordinator`, production settings: 1 s heartbeats), so \
            that its memory is its own; the fake workers and the routers run in this one. With --etcd the \
            coordinator leads a cluster: its worker registry is written to etcd on registration and its leases \
            renewed on heartbeats, never per request.
            """)

    @Option(help: "Lifecycles to measure (after the warm-up).") var lifecycles = 20_000
    @Option(help: "Warm-up lifecycles, not measured.") var warmup = 2_000
    @Option(help: "Requests in flight at once.") var concurrency = 64
    @Option(help: "How routers talk to the coordinator: route (streams) or unary (Admit + Await per request).")
    var api: ControlPlaneLoad.API = .route
    @Option(help: "Route streams the requests in flight are spread over (with --api route).") var routers = 4
    @Option(help: "Fake workers, half prefill and half decode (overrides --prefill-workers and --decode-workers).")
    var workers: Int?
    @Option(help: "Fake prefill workers.") var prefillWorkers = 4
    @Option(help: "Fake decode workers.") var decodeWorkers = 4
    @Option(help: "Fake workers' sessions per gRPC connection.") var sessionsPerConnection = 100
    @Option(help: "Nodes the fake workers are spread over (node labels, so pairing weighs distance).") var nodes = 8
    @Option(help: "Prompt tokens per request.") var promptTokens = 1024
    @Option(
        help:
            "etcd for the coordinator's registry: member URLs, or `local` to start one member of Debian's etcd here.")
    var etcd: String?
    @Option(help: "The coordinator process's log level.") var coordinatorLogLevel = "warning"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let (prefillCount, decodeCount) = workers.map { ($0 / 2, $0 - $0 / 2) } ?? (prefillWorkers, decodeWorkers)
        guard prefillCount > 0, decodeCount > 0 else { throw ValidationError("need prefill and decode workers") }
        let localEtcd = etcd == "local" ? try await LocalEtcdCluster(members: 1) : nil
        let endpoints = try localEtcd.map(\.endpoints) ?? etcd.map { try EtcdEndpoints(parsing: $0) }
        let token = BearerToken.random()
        let port = try LoopbackPorts.reserve(1)[0]
        var arguments = [
            "coordinator", "--listen", "127.0.0.1:\(port)", "--no-metrics", "--log-level", coordinatorLogLevel,
        ]
        if let endpoints {
            arguments += [
                "--etcd", "\(endpoints)", "--cluster", "bench-\(getpid())", "--advertise", "127.0.0.1:\(port)",
            ]
        }
        let coordinator = try PeerProcess(
            arguments: arguments, environment: [BearerToken.environmentVariable: token.value])
        defer { coordinator.send(signal: SIGKILL) }
        _ = try await coordinator.channel.receive("LISTENING")
        let address = CoordinatorAddress(host: "127.0.0.1", port: port, token: token)
        // Leading (at once alone; once elected with etcd).
        _ = try await withLeaderCoordinatorClient(address) { try await $0.listWorkers(.init()) }

        // Free blocks reach the coordinator with heartbeats (1 s): pools large enough that a second's lifecycles
        // never wait for one, 2 Mi blocks over the fleet, each pool 2,048 to 65,536 blocks.
        let blocks = min(65_536, max(2_048, (1 << 21) / (prefillCount + decodeCount)))
        let spec = KVLayoutSpec(preset: .tiny, blockTokens: 16, arrangement: .split, numBlocks: blocks)
        let fleet = try (0..<(prefillCount + decodeCount)).map { index in
            let role: WorkerRole = index < prefillCount ? .prefill : .decode
            let number = role == .prefill ? index : index - prefillCount
            return try FakeWorker(
                id: "\(role.rawValue)-\(number)", role: role, spec: spec, node: "node-\(number % max(nodes, 1))")
        }
        let outcome = try await withThrowingTaskGroup(of: Void.self) { group in
            for start in stride(from: 0, to: fleet.count, by: max(sessionsPerConnection, 1)) {
                let share = fleet[start..<min(start + max(sessionsPerConnection, 1), fleet.count)]
                group.addTask {
                    try await withCoordinatorClient(address) { client in
                        try await withThrowingDiscardingTaskGroup { sessions in
                            for worker in share { sessions.addTask { try await worker.run(on: client) } }
                        }
                    }
                }
            }
            let outcome = try await withCoordinatorClient(address) { client in
                try await waitForWorkers(client, count: fleet.count)
                let registeredRSS = coordinator.residentBytes ?? 0
                let load = ControlPlaneLoad(
                    client: client, api: api, concurrency: concurrency, routers: routers, model: "tiny",
                    promptTokens: UInt32(promptTokens))
                _ = try await load.run(count: warmup, prefix: "warm")
                let before = try await client.getAggregates(.init()).done
                let measured = try await load.run(count: lifecycles, prefix: "run")
                let aggregates = try await client.getAggregates(.init())
                return Outcome(
                    measured: measured, aggregates: aggregates, done: Int(aggregates.done - before),
                    registeredRSS: registeredRSS, finalRSS: coordinator.residentBytes ?? 0)
            }
            group.cancelAll()
            return outcome
        }
        coordinator.send(signal: SIGTERM)
        await coordinator.finish(timeout: .seconds(10))
        await localEtcd?.stop()
        report(outcome, workers: (prefillCount, decodeCount), withEtcd: endpoints != nil)
    }

    struct Outcome {
        var measured: ControlPlaneLoad.Result
        var aggregates: Handoff_V1_Aggregates
        var done: Int
        /// The coordinator's resident memory with every worker registered, before the load, and after it.
        var registeredRSS: Int
        var finalRSS: Int
    }

    private func waitForWorkers(_ client: Handoff_V1_Coordinator.Client<some ClientTransport>, count: Int) async throws
    {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await client.listWorkers(.init()).workers.filter({ $0.state == "live" }).count >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError.peerFailed("\(count) fake workers did not register within 120 s")
    }

    private func report(_ outcome: Outcome, workers: (prefill: Int, decode: Int), withEtcd: Bool) {
        let (seconds, failures) = (outcome.measured.seconds, outcome.measured.failures)
        let rate = Double(lifecycles) / seconds
        let sorted = outcome.measured.latencyMicroseconds.sorted()
        let latency = (p50: Percentiles.nearestRank(sorted, 0.5), p99: Percentiles.nearestRank(sorted, 0.99))
        let decision = outcome.aggregates.decisionSeconds
        let mib = { (bytes: Int) in Double(bytes) / 1_048_576 }
        if json {
            let object: [String: Any] = [
                "lifecycles": lifecycles, "seconds": seconds, "lifecycles_per_s": rate, "failures": failures,
                "concurrency": concurrency, "api": api.rawValue, "routers": api == .route ? routers : concurrency,
                "prefill_workers": workers.prefill, "decode_workers": workers.decode, "etcd": withEtcd,
                "lifecycle_latency_us": ["p50": latency.p50, "p99": latency.p99],
                "decision_us": ["p50": decision.p50 * 1e6, "p90": decision.p90 * 1e6, "p99": decision.p99 * 1e6],
                "coordinator_done": outcome.done, "coordinator_rss_mib_registered": mib(outcome.registeredRSS),
                "coordinator_rss_mib_after": mib(outcome.finalRSS),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format: "%d lifecycles in %.2f s: %.0f lifecycles/s (%d in flight, %d+%d fake workers, %d failed)",
                    lifecycles, seconds, rate, concurrency, workers.prefill, workers.decode, failures)
                    + ", api \(api.rawValue), etcd \(withEtcd ? "on" : "off")")
            print(
                String(
                    format: "router-side lifecycle latency (admit sent → account received): p50 %.0f µs, p99 %.0f µs",
                    latency.p50, latency.p99))
            print(
                String(
                    format: "coordinator decision time (last 4,096): p50 %.1f µs, p90 %.1f µs, p99 %.1f µs",
                    decision.p50 * 1e6, decision.p90 * 1e6, decision.p99 * 1e6))
            print(
                String(
                    format: "coordinator RSS: %.1f MiB with the workers registered, %.1f MiB after the run",
                    mib(outcome.registeredRSS), mib(outcome.finalRSS)))
        }
    }
}

/// Hands out lifecycle indices to the router tasks.
final class LifecycleCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
