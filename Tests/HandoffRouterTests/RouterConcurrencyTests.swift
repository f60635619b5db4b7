import Foundation
import HandoffClient
import HandoffTestSupport
import Testing

/// `handoff router` under concurrent streams to one pair of engines: a real coordinator, engine stand-ins on the
/// real connector runtime (`handoff bench-engine`, every lifecycle completed and its KV moved), the router and the
/// load driver (`handoff bench-router`) as processes.
@Suite(.serialized) struct RouterConcurrencyTests {
    /// Twenty 6-second streams at once through one prefill and one decode engine: every one is answered. With
    /// AsyncHTTPClient's default pool (8 connections per engine) twelve ended with 502.
    @Test func twentyConcurrentStreamsToOneEnginePairAreAllServed() async throws {
        try await withCoordinatorServer { address, coordinator in
            let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent(
                "handoff-router-test-token-\(getpid())")
            try Data(address.token.value.utf8).write(to: tokenFile)
            defer { try? FileManager.default.removeItem(at: tokenFile) }
            let common = ["--coordinator", "\(address)", "--token-file", tokenFile.path]
            let prefill = try HandoffProcess(["bench-engine", "--role", "prefill", "--id", "p0"] + common)
            let decode = try HandoffProcess(
                [
                    "bench-engine", "--role", "decode", "--id", "d0", "--output-tokens", "60", "--token-interval-ms",
                    "100",
                ]
                    + common)
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
}
