import Foundation
import Glibc
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore

/// The processes of a demo: one coordinator and its workers, all this executable, on loopback.
final class DemoCluster {
    let token: BearerToken
    let coordinator: PeerProcess
    let address: CoordinatorAddress
    let metricsPort: Int?
    private(set) var workers: [String: PeerProcess] = [:]
    private let workerArguments: [String: [String]]

    /// Starts the coordinator and waits for it to listen, then starts the workers.
    init(coordinatorArguments: [String], workers: [(id: String, arguments: [String])]) async throws {
        token = BearerToken.random()
        let environment = [BearerToken.environmentVariable: token.value]
        coordinator = try PeerProcess(
            arguments: ["coordinator", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"] + coordinatorArguments,
            environment: environment)
        let line = try await coordinator.channel.receive("LISTENING")
        var ports: [String: String] = [:]
        for field in line.split(separator: " ") {
            let parts = field.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { ports[String(parts[0])] = String(parts[1]) }
        }
        guard let grpc = ports["grpc"].flatMap(Int.init) else {
            throw BenchError.peerFailed("the coordinator announced no gRPC port: \(line)")
        }
        metricsPort = ports["metrics"].flatMap(Int.init)
        address = CoordinatorAddress(host: "127.0.0.1", port: grpc, token: token)
        workerArguments = Dictionary(
            uniqueKeysWithValues: workers.map { ($0.id, $0.arguments + ["--coordinator", "127.0.0.1:\(grpc)"]) })
        for worker in workers { try start(worker.id) }
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

    /// Stops workers, then the coordinator, gracefully; returns the coordinator's exit status.
    func stop() async -> Int32 {
        for worker in workers.values { worker.send(signal: SIGTERM) }
        for worker in workers.values { await worker.finish(timeout: .seconds(10)) }
        coordinator.send(signal: SIGTERM)
        return await coordinator.finish(timeout: .seconds(20))
    }
}
