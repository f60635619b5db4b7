import Foundation
import HandoffCore
import HandoffTestSupport
import Testing

/// A coordinator process on loopback, with a fresh token in a file, and the worker and `handoff topo` processes
/// the tests start against it; all in one network namespace when given one.
struct TestCluster {
    let coordinator: HandoffProcess
    let address: String
    let tokenFile: URL
    private let pair: NetworkNamespacePair?
    private let namespace: String?

    init(in namespace: String? = nil, of pair: NetworkNamespacePair? = nil) async throws {
        self.pair = pair
        self.namespace = namespace
        let token = (0..<2).map { _ in String(UInt64.random(in: 1...UInt64.max), radix: 16) }.joined(separator: "-")
        tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "handoff-token-\(UInt64.random(in: 1...UInt64.max))")
        try Data(token.utf8).write(to: tokenFile)
        coordinator = try Self.process(
            [
                "coordinator", "--listen", "127.0.0.1:0", "--no-metrics", "--token-file", tokenFile.path,
                "--log-level", "warning",
            ], in: namespace, of: pair)
        let line = try await coordinator.readLine()
        let port = try #require(
            line.split(separator: " ").first { $0.hasPrefix("grpc=") }.map { $0.dropFirst(5) }, "\(line)")
        address = "127.0.0.1:\(port)"
    }

    /// Removes the token file (processes end when their handles go).
    func remove() { try? FileManager.default.removeItem(at: tokenFile) }

    private static func process(
        _ arguments: [String], in namespace: String?, of pair: NetworkNamespacePair?, captureErrors: Bool = false
    )
        throws -> HandoffProcess
    {
        if let namespace, let pair { return try pair.handoff(in: namespace, arguments, captureErrors: captureErrors) }
        return try HandoffProcess(arguments, captureErrors: captureErrors)
    }

    func worker(
        _ id: String, role: String, model: String = "llama-3.1-8b", _ extra: [String] = []
    ) throws -> HandoffProcess {
        try Self.process(
            [
                "worker", "--id", id, "--role", role, "--model", model, "--coordinator", address, "--token-file",
                tokenFile.path,
                "--blocks", "8", "--log-level", "error",
            ] + extra, in: namespace, of: pair)
    }

    /// `handoff topo --coordinator … --json`: the report and the exit status.
    func survey() async throws -> (json: [String: Any], status: Int32) {
        let process = try Self.process(
            ["topo", "--json", "--coordinator", address, "--token-file", tokenFile.path], in: namespace, of: pair)
        let (output, status) = try await process.finish()
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return (try #require(json, "not a JSON object: \(output)"), status)
    }

    /// Surveys until `done` holds for the listed workers (30 s at most).
    func survey(until done: ([[String: Any]]) -> Bool) async throws -> (json: [String: Any], status: Int32) {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let result = try await survey()
            if done(result.json["workers"] as? [[String: Any]] ?? []) || ContinuousClock.now > deadline {
                return result
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The TCP data-plane endpoint worker `id` advertises on `host`, once it is registered.
    func tcpEndpoint(of id: String, on host: String) async throws -> String {
        func endpoint(_ workers: [[String: Any]]) -> String? {
            let worker = workers.first { $0["id"] as? String == id }
            let offers = worker?["offers"] as? [[String: Any]] ?? []
            return offers.flatMap { $0["endpoints"] as? [String] ?? [] }.first { $0.hasPrefix(host + ":") }
        }
        let (json, _) = try await survey { endpoint($0) != nil }
        return try #require(
            endpoint(json["workers"] as? [[String: Any]] ?? []), "\(id) advertises nothing on \(host): \(json)")
    }
}
