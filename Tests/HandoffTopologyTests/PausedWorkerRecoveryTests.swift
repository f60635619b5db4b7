import Foundation
import HandoffTestSupport
import Testing

/// A worker process paused (SIGSTOP) for longer than the heartbeat timeout while requests run through it, then
/// continued: the coordinator declares it lost, its tickets end (recomputed elsewhere or failed with a reason),
/// it registers again, and every block on both sides comes back (no capacity stuck by the pause).
@Suite(.serialized) struct PausedWorkerRecoveryTests {
    @Test(.timeLimit(.minutes(2)), arguments: ["prefill", "decode"])
    func aPausedWorkerRejoinsAndEveryBlockComesBack(role: String) async throws {
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        // Two of each role, so that the paused one's tickets can be recomputed on the other pair; prefill takes
        // 128 ms a request, so that the load lasts through the pause.
        let workers = try ["prefill-0", "prefill-1", "decode-0", "decode-1"].map { id in
            try cluster.worker(
                id, role: String(id.prefix { $0 != "-" }), model: "tiny",
                ["--blocks", "64", "--prefill-tokens-per-second", "2000"])
        }
        _ = try await cluster.survey { live($0).count == 4 }
        let load = try HandoffProcess(
            [
                "request", "--coordinator", cluster.address, "--token-file", cluster.tokenFile.path, "--model",
                "tiny", "--prompt-tokens", "256", "--count", "100", "--concurrency", "4", "--policy", "recompute",
            ], captureErrors: true)
        // Pause once the load flows: five requests have finished (one account line each).
        var firstLines: [String] = []
        for _ in 0..<5 { firstLines.append(try await load.readLine()) }
        let paused = workers[role == "prefill" ? 0 : 2]
        paused.signal(SIGSTOP)
        // Three missed heartbeats (1 s apart) take it out; paused a while longer, it misses its releases too.
        try await Task.sleep(for: .seconds(4))
        paused.signal(SIGCONT)
        let (rest, _) = try await load.finish()
        let accounts = (firstLines + rest.split(separator: "\n").map(String.init)).compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        // Every request ended: done and verified, or failed with a reason; none hangs.
        #expect(accounts.count == 100)
        #expect(
            accounts.allSatisfy {
                ($0["state"] as? String == "done" && $0["verified"] as? Bool == true)
                    || !(($0["failure"] as? String) ?? "").isEmpty
            })
        let (json, _) = try await cluster.survey { workers in
            live(workers).count == 4 && live(workers).allSatisfy { $0["free_blocks"] as? Int == 64 }
        }
        let fleet = live(json["workers"] as? [[String: Any]] ?? [])
        #expect(fleet.count == 4, "\(json)")
        for worker in fleet {
            #expect(worker["free_blocks"] as? Int == 64, "blocks stuck on \(worker["id"] ?? "?"): \(worker)")
        }
        // The pause did hit requests: the coordinator kept pairing the paused worker until it was declared lost,
        // and those requests were prefilled again elsewhere (or failed with the reason).
        #expect(
            accounts.contains { ($0["attempts"] as? Int ?? 1) > 1 || !(($0["failure"] as? String) ?? "").isEmpty },
            "no request was on the paused worker")
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { _ = try await worker.finish() }
        cluster.coordinator.signal(SIGTERM)
    }

    private func live(_ workers: [[String: Any]]) -> [[String: Any]] {
        workers.filter { $0["live"] as? Bool == true }
    }
}
