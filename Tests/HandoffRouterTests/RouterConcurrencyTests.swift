import Foundation
import HandoffClient
import HandoffControlPlane
import HandoffTestSupport
import Testing

/// `handoff router` under concurrent streams to one pair of engines: a real coordinator, engine stand-ins on the
/// real connector runtime (`handoff bench-engine`, every lifecycle completed and its KV moved), the router and the
/// load driver (`handoff bench-router`) as processes.
@Suite(.serialized) struct RouterConcurrencyTests {
    /// A client that leaves while decode's engine is between two tokens: the router learns it from the connection
    /// closing, not from a write to it, so it cancels the request at once. Before, it noticed only when the engine's
    /// next token failed to be written (15 s here; on two cores running vLLM, answers lagged 4 to 5 s behind the
    /// engine, which meanwhile generated all 1,800 tokens for a client that had left).
    @Test func aClientThatLeavesBetweenTwoTokensIsCancelledAtOnce() async throws {
        try await withEngines(decodeArguments: ["--output-tokens", "3", "--token-interval-ms", "15000"]) {
            port, coordinator in
            let body = #"{"model": "tiny", "prompt": [1, 2, 3, 4], "max_tokens": 3, "stream": true}"#
            let client = try LoopbackConnection(port: port)
            client.send(
                "POST /v1/completions HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: leaver\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            var answered = ""
            let deadline = ContinuousClock.now + .seconds(20)
            while !answered.contains("data:") && ContinuousClock.now < deadline {
                answered += client.received(within: .seconds(1))
            }
            try #require(answered.hasPrefix("HTTP/1.1 200") && answered.contains("data:"), "\(answered)")
            client.hangUp()
            // The first token closed the request's account (decode reported it); what the router did shows in
            // its outcomes.
            let left = ContinuousClock.now
            var outcomes = ""
            while !outcomes.contains(#"outcome="client_gone"} 1"#) && ContinuousClock.now - left < .seconds(10) {
                try await Task.sleep(for: .milliseconds(50))
                outcomes = try await Self.metrics(port: port)
            }
            let cancelledAfter = ContinuousClock.now - left
            #expect(outcomes.contains(#"outcome="client_gone"} 1"#), "\(outcomes)")
            #expect(cancelledAfter < .seconds(5), "cancelled \(cancelledAfter) after the client left")
        }
    }

    /// The router's request counters from its /metrics.
    static func metrics(port: Int) async throws -> String {
        let connection = try LoopbackConnection(port: port)
        connection.send("GET /metrics HTTP/1.1\r\nHost: router\r\nConnection: close\r\n\r\n")
        var text = ""
        while case let more = connection.received(within: .seconds(2)), !more.isEmpty { text += more }
        return text.split(separator: "\n").filter { $0.hasPrefix("handoff_router_requests_total") }
            .joined(separator: "\n")
    }

    @Test func twentyConcurrentStreamsToOneEnginePairAreAllServed() async throws {
        try await withEngines(decodeArguments: ["--output-tokens", "60", "--token-interval-ms", "100"]) { port, _ in
            let driver = try HandoffProcess([
                "bench-router", "--url", "http://127.0.0.1:\(port)", "--concurrency", "20", "--requests", "20",
                "--json",
            ])
            let (output, status) = try await driver.finish()
            #expect(status == 0)
            let line = try #require(output.split(separator: "\n").last)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(report["ok"] as? Int == 20, "\(line)")
            #expect((report["errors"] as? [String: Any])?.isEmpty == true, "\(line)")
        }
    }

    /// A coordinator, a prefill and a decode engine stand-in (`decodeArguments` shape its answers) and a router;
    /// `body` gets the router's port.
    private func withEngines(
        decodeArguments: [String], _ body: (_ routerPort: Int, _ coordinator: Coordinator) async throws -> Void
    ) async throws {
        try await withCoordinatorServer { address, coordinator in
            let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent(
                "handoff-router-test-token-\(getpid())")
            try Data(address.token.value.utf8).write(to: tokenFile)
            defer { try? FileManager.default.removeItem(at: tokenFile) }
            let common = ["--coordinator", "\(address)", "--token-file", tokenFile.path]
            let prefill = try HandoffProcess(["bench-engine", "--role", "prefill", "--id", "p0"] + common)
            let decode = try HandoffProcess(
                ["bench-engine", "--role", "decode", "--id", "d0"] + decodeArguments + common)
            let router = try HandoffProcess(["router", "--listen", "127.0.0.1:0", "--log-level", "warning"] + common)
            defer {
                for process in [router, decode, prefill] { process.signal(SIGKILL) }
            }
            for engine in [prefill, decode] { #expect(try await engine.readLine().hasPrefix("LISTENING")) }
            let deadline = ContinuousClock.now + .seconds(30)
            while await coordinator.workerStatuses().filter(\.live).count < 2 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let listening = try await router.readLine()
            let port = try #require(listening.split(separator: "=").last.flatMap { Int($0) }, "\(listening)")
            try await body(port, coordinator)
        }
    }
}
