import Foundation
import GRPCCore
import HandoffControlPlane
import HandoffCore
import HandoffProto
import Synchronization

/// What a demo run produced.
struct DemoOutcome: Sendable {
    var succeeded: [Handoff_V1_RequestAccount] = []
    var failed: [(id: String, reason: String)] = []
    var admissionRetries = 0
    var decisionP99 = 0.0
    var recomputed = 0
    var killed: [String] = []
}

/// Drives requests like a router: admit (retrying while no pair has room), then wait for the outcome.
struct DemoDriver<Transport: ClientTransport> {
    let client: Handoff_V1_Coordinator.Client<Transport>
    let cluster: DemoCluster
    let model: String
    let mix: [Int]
    let requests: Int
    let rate: Double
    let policy: LoadFailurePolicy
    let killPrefillAfter: Int?
    let seed: UInt64

    func run() async throws -> DemoOutcome {
        var generator = SplitMix64(seed: seed)
        let progress = DemoProgress(total: requests)
        let start = ContinuousClock.now
        var outcome = DemoOutcome()
        var restartAt: ContinuousClock.Instant?
        let client = self.client
        let model = self.model
        let policy = self.policy
        let results = try await withThrowingTaskGroup(of: RequestResult.self) { group in
            for index in 0..<requests {
                try await Task.sleep(until: start + .seconds(Double(index) / rate))
                if index == killPrefillAfter {
                    cluster.kill("prefill-0")
                    outcome.killed.append("prefill-0")
                    restartAt = .now + .seconds(1)
                }
                if let due = restartAt, due <= .now {
                    try cluster.start("prefill-0")
                    restartAt = nil
                }
                let tokens = mix[Int(generator.next() % UInt64(mix.count))]
                group.addTask {
                    let result = await Self.drive(client: client, id: "demo-\(index)", model: model, tokens: tokens, policy: policy)
                    progress.finished(failed: result.account == nil)
                    return result
                }
            }
            if let due = restartAt {
                try await Task.sleep(until: due)
                try cluster.start("prefill-0")
            }
            var all: [RequestResult] = []
            for try await result in group { all.append(result) }
            return all
        }
        for result in results.sorted(by: { $0.id < $1.id }) {
            outcome.admissionRetries += result.retries
            if let account = result.account { outcome.succeeded.append(account) } else { outcome.failed.append((result.id, result.failure)) }
        }
        let aggregates = try await client.getAggregates(Handoff_V1_GetAggregatesRequest())
        outcome.decisionP99 = aggregates.decisionSeconds.p99
        outcome.recomputed = Int(aggregates.recomputed)
        return outcome
    }

    struct RequestResult: Sendable {
        var id: String
        var account: Handoff_V1_RequestAccount?
        var failure = ""
        var retries = 0
    }

    static func drive(
        client: Handoff_V1_Coordinator.Client<Transport>, id: String, model: String, tokens: Int, policy: LoadFailurePolicy
    ) async -> RequestResult {
        var result = RequestResult(id: id)
        let request = Handoff_V1_AdmitRequest.with {
            $0.requestID = id
            $0.model = model
            $0.promptTokens = UInt32(tokens)
            $0.loadFailurePolicy = policy == .recompute ? .recompute : .fail
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                _ = try await client.admit(request)
                break
            } catch let error as RPCError where error.code == .resourceExhausted && ContinuousClock.now < deadline {
                result.retries += 1
                try? await Task.sleep(for: .milliseconds(10))
            } catch {
                result.failure = "admission failed: \(error)"
                return result
            }
        }
        do {
            let account = try await client.await(.with {
                $0.requestID = id
                $0.timeoutSeconds = 120
            })
            if account.state == "done" && account.verified {
                result.account = account
            } else {
                result.failure = "\(account.state): \(account.failure)"
            }
        } catch {
            result.failure = "await failed: \(error)"
        }
        return result
    }
}

/// Counts finished requests and redraws the progress bar.
final class DemoProgress: Sendable {
    private let state: Mutex<(done: Int, failed: Int, bar: ProgressBar)>

    init(total: Int) { state = Mutex((0, 0, ProgressBar(total: total))) }

    func finished(failed: Bool) {
        state.withLock {
            $0.done += 1
            if failed { $0.failed += 1 }
            $0.bar.update(done: $0.done, failed: $0.failed)
        }
    }
}
