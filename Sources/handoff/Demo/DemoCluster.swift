import Foundation
import Glibc
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd

/// The processes of a demo, all this executable, on loopback: one coordinator, or several campaigning through
/// etcd for leadership, and the workers.
final class DemoCluster {
    let token: BearerToken
    /// Every coordinator's gRPC address (the workers and the driver are given them all).
    let address: CoordinatorAddress
    /// Each coordinator's `/metrics` port, by gRPC address.
    private(set) var metricsPorts: [HostPort: Int] = [:]
    private var coordinators: [HostPort: PeerProcess] = [:]
    private let coordinatorArguments: [HostPort: [String]]
    private(set) var workers: [String: PeerProcess] = [:]
    private let workerArguments: [String: [String]]
    /// With `cuttableEtcd`: each coordinator's forwarders to the etcd members, so that its link can be cut alone.
    private var etcdLinks: [HostPort: [LoopbackForwarder]] = [:]
    /// Coordinators the demo killed on purpose (and has not restarted yet).
    private var killedCoordinators: Set<HostPort> = []

    /// Starts the coordinators and waits for each to listen, then starts the workers.
    ///
    /// - Parameters:
    ///   - etcd: with several coordinators, the etcd cluster they campaign in.
    ///   - cuttableEtcd: each coordinator reaches etcd through forwarders of its own (`cutEtcd`).
    init(
        coordinatorArguments common: [String], coordinators count: Int = 1, etcd: EtcdEndpoints? = nil,
        leaderTTLSeconds: Int = 1, cuttableEtcd: Bool = false, workers: [(id: String, arguments: [String])]
    ) async throws {
        token = BearerToken.random()
        var arguments: [HostPort: [String]] = [:]
        var endpoints: [HostPort] = []
        if let etcd, count > 1 {
            let ports = try LoopbackPorts.reserve(2 * count)
            for index in 0..<count {
                let grpc = HostPort(host: "127.0.0.1", port: ports[2 * index])
                endpoints.append(grpc)
                var members = etcd
                if cuttableEtcd {
                    let links = try etcd.members.map { try LoopbackForwarder(to: $0) }
                    etcdLinks[grpc] = links
                    members = EtcdEndpoints(members: links.map { HostPort(host: "127.0.0.1", port: $0.port) })
                }
                arguments[grpc] =
                    [
                        "coordinator", "--listen", "\(grpc)", "--metrics", "127.0.0.1:\(ports[2 * index + 1])",
                        "--etcd", "\(members)", "--cluster", "demo", "--advertise", "\(grpc)",
                        "--leader-ttl-seconds", "\(leaderTTLSeconds)",
                    ] + common
            }
        } else {
            endpoints = [HostPort(host: "127.0.0.1", port: 0)]
            arguments[endpoints[0]] = ["coordinator", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"] + common
        }
        coordinatorArguments = arguments
        var started: [HostPort] = []
        for endpoint in endpoints {
            let (bound, metrics, process) = try await Self.startCoordinator(arguments[endpoint] ?? [], token: token)
            let actual = endpoint.port == 0 ? HostPort(host: "127.0.0.1", port: bound) : endpoint
            started.append(actual)
            coordinators[actual] = process
            metricsPorts[actual] = metrics
        }
        address = CoordinatorAddress(endpoints: started, token: token)
        let list = started.map(\.description).joined(separator: ",")
        workerArguments = Dictionary(
            uniqueKeysWithValues: workers.map { ($0.id, $0.arguments + ["--coordinator", list]) })
        for worker in workers { try start(worker.id) }
    }

    /// Starts one coordinator and waits for its `LISTENING` line: its gRPC and metrics ports.
    private static func startCoordinator(
        _ arguments: [String], token: BearerToken
    ) async throws -> (grpc: Int, metrics: Int?, process: PeerProcess) {
        let process = try PeerProcess(
            arguments: arguments, environment: [BearerToken.environmentVariable: token.value])
        let line = try await process.channel.receive("LISTENING")
        var ports: [String: String] = [:]
        for field in line.split(separator: " ") {
            let parts = field.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { ports[String(parts[0])] = String(parts[1]) }
        }
        guard let grpc = ports["grpc"].flatMap(Int.init) else {
            throw BenchError.peerFailed("the coordinator announced no gRPC port: \(line)")
        }
        return (grpc, ports["metrics"].flatMap(Int.init), process)
    }

    /// Starts (or restarts) worker `id`.
    func start(_ id: String) throws {
        guard let arguments = workerArguments[id] else { return }
        workers[id] = try PeerProcess(arguments: arguments, environment: [BearerToken.environmentVariable: token.value])
    }

    /// Kills worker `id` without warning, as a crash would.
    func kill(_ id: String) {
        workers[id]?.send(signal: SIGKILL)
    }

    /// Kills the coordinator at `endpoint` without warning, as a crash would.
    func killCoordinator(_ endpoint: HostPort) {
        killedCoordinators.insert(endpoint)
        coordinators[endpoint]?.send(signal: SIGKILL)
    }

    /// Pauses the coordinator at `endpoint` (SIGSTOP), or resumes it (SIGCONT), as a stalled VM or a long GC would.
    func pauseCoordinator(_ endpoint: HostPort, _ paused: Bool) {
        coordinators[endpoint]?.send(signal: paused ? SIGSTOP : SIGCONT)
    }

    /// Cuts the links of the coordinator at `endpoint` to every etcd member (a black hole), or restores them.
    func cutEtcd(of endpoint: HostPort, _ cut: Bool) {
        for link in etcdLinks[endpoint] ?? [] { link.setCut(cut) }
    }

    /// Coordinators that ended without the demo killing or stopping them, with how they ended (a crash, an exit).
    var unexpectedEndings: [String] {
        coordinators.filter { !killedCoordinators.contains($0.key) }.compactMap { endpoint, process in
            process.ending.map { "\(endpoint): \($0)" }
        }.sorted()
    }

    /// Starts the coordinator at `endpoint` again (with the same ports) and waits until it listens.
    func restartCoordinator(_ endpoint: HostPort) async throws {
        guard let arguments = coordinatorArguments[endpoint] else { return }
        await coordinators[endpoint]?.finish(timeout: .seconds(5))
        let (_, metrics, process) = try await Self.startCoordinator(arguments, token: token)
        coordinators[endpoint] = process
        killedCoordinators.remove(endpoint)
        metricsPorts[endpoint] = metrics
    }

    /// Stops workers, then the coordinators, gracefully; returns the worst coordinator exit status.
    func stop() async -> Int32 {
        defer { for links in etcdLinks.values { for link in links { link.stop() } } }
        for worker in workers.values { worker.send(signal: SIGTERM) }
        for worker in workers.values { await worker.finish(timeout: .seconds(10)) }
        for coordinator in coordinators.values { coordinator.send(signal: SIGTERM) }
        var worst: Int32 = 0
        for coordinator in coordinators.values {
            let status = await coordinator.finish(timeout: .seconds(20))
            if status != 0 { worst = status }
        }
        return worst
    }
}
