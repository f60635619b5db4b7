import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Synchronization
import Tracing

/// What a demo run produced.
struct DemoOutcome: Sendable {
    var succeeded: [Handoff_V1_RequestAccount] = []
    var failed: [(id: String, reason: String)] = []
    var admissionRetries = 0
    var decisionP99 = 0.0
    var recomputed = 0
    var killed: [String] = []
    var restart: RestartReport?
    /// The leaders killed, in order (several coordinators only).
    var failovers: [FailoverReport] = []
    /// Requests admitted again after the coordinator that admitted them was lost.
    var readmissions = 0
}

/// One SIGKILL of the coordinators' leader and how the cluster came back.
struct FailoverReport: Sendable {
    var killed: HostPort
    var killedAt: ContinuousClock.Instant
    /// SIGKILL → the next request admitted (by the new leader), seconds; nil if none was.
    var nextAdmissionSeconds: Double?
    /// The coordinator that led next, as the driver found it.
    var newLeader: HostPort?
}

/// How a killed and restarted worker came back.
struct RestartReport: Sendable {
    var worker: String
    /// The instance that was killed.
    var killedInstance: UInt64 = 0
    /// Process started again → its new instance registered, seconds; nil if it never did.
    var rejoinSeconds: Double?
    /// New instance registered → the first request paired with it, seconds; nil if none was.
    var firstPairSeconds: Double?
    /// Requests that succeeded on it after it came back.
    var servedAfterRejoin = 0
}

/// Drives requests like a router: admit (retrying while no pair has room), then wait for the outcome.
struct DemoDriver {
    /// Every call follows the coordinators' leader.
    let connection: CoordinatorConnection
    let cluster: DemoCluster
    let model: String
    let mix: [Int]
    let requests: Int
    let rate: Double
    let policy: LoadFailurePolicy
    let killPrefillAfter: Int?
    /// Request indices before which the coordinators' leader is killed (SIGKILL) and restarted a second later.
    var leaderKills: [Int] = []
    let seed: UInt64

    /// Waits (at most 5 s) until `worker` has a ticket in flight, so that killing it tests recovery rather than
    /// an idle restart.
    /// Whether one of the requests `recent` waits on `worker` for its prefill to start (admitted, the worker busy
    /// with another): killing the worker now leaves a ticket to recompute. One already computing may finish, and its
    /// KV be pulled, before the coordinator hears of the death.
    private static func isQueued(
        _ worker: String, recent: [String], connection: CoordinatorConnection
    ) async -> Bool {
        for id in recent.reversed() {
            let account = try? await connection.call { try await $0.getAccount(.with { $0.requestID = id }) }
            if let account, account.prefillWorker == worker, account.state == "admitted" {
                return true
            }
        }
        return false
    }

    func run() async throws -> DemoOutcome {
        var generator = SplitMix64(seed: seed)
        let progress = DemoProgress(total: requests)
        let start = ContinuousClock.now
        var outcome = DemoOutcome()
        var restartAt: ContinuousClock.Instant?
        var killedInstance: UInt64 = 0
        let victim = "prefill-0"
        var leaderRestart: (endpoint: HostPort, due: ContinuousClock.Instant)?
        let connection = self.connection
        let model = self.model
        let policy = self.policy
        let events = try await withThrowingTaskGroup(of: DriverEvent.self) { group in
            func restart() throws {
                try cluster.start(victim)
                let (started, replaced) = (ContinuousClock.now, killedInstance)
                group.addTask {
                    .rejoined(
                        try await Self.rejoin(
                            connection: connection, worker: victim, replacing: replaced, since: started))
                }
            }
            for index in 0..<requests {
                try await Task.sleep(until: start + .seconds(Double(index) / rate))
                if let (endpoint, due) = leaderRestart, due <= .now || leaderKills.contains(index) {
                    try await Task.sleep(until: due)
                    try await cluster.restartCoordinator(endpoint)
                    leaderRestart = nil
                }
                if leaderKills.contains(index) {
                    let leader = try await Self.leader(connection)
                    if let last = outcome.failovers.indices.last { outcome.failovers[last].newLeader = leader }
                    cluster.killCoordinator(leader)
                    outcome.failovers.append(FailoverReport(killed: leader, killedAt: .now))
                    leaderRestart = (leader, .now + .seconds(1))
                }
                // From request `killPrefillAfter` on, at the first request when one waits on the victim (or 40
                // requests later regardless).
                if let after = killPrefillAfter, index >= after, outcome.killed.isEmpty,
                    await Self.isQueued(
                        victim, recent: (max(0, index - 8)..<index).map { "demo-\($0)" }, connection: connection)
                        || index >= after + 40
                {
                    killedInstance =
                        try await connection.call { try await $0.listWorkers(.init()).workers }
                        .first { $0.workerID == victim }?.instance ?? 0
                    cluster.kill(victim)
                    outcome.killed.append(victim)
                    restartAt = .now + .seconds(1)
                }
                if let due = restartAt, due <= .now {
                    try restart()
                    restartAt = nil
                }
                let tokens = mix[Int(generator.next() % UInt64(mix.count))]
                group.addTask {
                    let result = await Self.drive(
                        connection: connection, id: "demo-\(index)", model: model, tokens: tokens, policy: policy)
                    progress.finished(failed: result.account == nil)
                    return .finished(result)
                }
            }
            if let due = restartAt {
                try await Task.sleep(until: due)
                try restart()
            }
            if let (endpoint, due) = leaderRestart {
                try await Task.sleep(until: due)
                try await cluster.restartCoordinator(endpoint)
            }
            var all: [DriverEvent] = []
            for try await event in group { all.append(event) }
            return all
        }
        var rejoin: (started: ContinuousClock.Instant, registered: ContinuousClock.Instant?)?
        var results: [RequestResult] = []
        for event in events {
            switch event {
            case .finished(let result): results.append(result)
            case .rejoined(let times): rejoin = times
            }
        }
        let admissions = results.flatMap(\.admissions)
        for index in outcome.failovers.indices {
            let (killed, killedAt) = (outcome.failovers[index].killed, outcome.failovers[index].killedAt)
            // Admitted by another coordinator: an answer the killed one sent just before it died does not count.
            outcome.failovers[index].nextAdmissionSeconds =
                admissions.filter { $0.at > killedAt && $0.by != killed }.map(\.at).min().map {
                    ($0 - killedAt).seconds
                }
        }
        if let last = outcome.failovers.indices.last {
            outcome.failovers[last].newLeader = try await Self.leader(connection)
        }
        for result in results.sorted(by: { $0.id < $1.id }) {
            outcome.admissionRetries += result.retries
            outcome.readmissions += result.readmissions
            if let account = result.account {
                outcome.succeeded.append(account)
            } else {
                outcome.failed.append((result.id, result.failure))
            }
        }
        if let rejoin {
            var report = RestartReport(
                worker: victim, killedInstance: killedInstance,
                rejoinSeconds: rejoin.registered.map { ($0 - rejoin.started).seconds })
            if let registered = rejoin.registered {
                let after = results.filter {
                    $0.prefillWorker == victim && ($0.admittedAt.map { $0 >= registered } ?? false)
                }
                report.firstPairSeconds = after.compactMap(\.admittedAt).min().map { ($0 - registered).seconds }
                report.servedAfterRejoin = after.filter { $0.account != nil }.count
            }
            outcome.restart = report
        }
        let aggregates = try await connection.call { try await $0.getAggregates(Handoff_V1_GetAggregatesRequest()) }
        outcome.decisionP99 = aggregates.decisionSeconds.p99
        outcome.recomputed = Int(aggregates.recomputed)
        return outcome
    }

    struct RequestResult: Sendable {
        var id: String
        var account: Handoff_V1_RequestAccount?
        var failure = ""
        var retries = 0
        /// The prefill worker the first attempt was paired with, and when.
        var prefillWorker = ""
        var admittedAt: ContinuousClock.Instant?
        /// When each attempt was admitted, and by which coordinator.
        var admissions: [(at: ContinuousClock.Instant, by: HostPort)] = []
        /// Admissions again after the coordinator that admitted it was lost.
        var readmissions = 0
    }

    enum DriverEvent: Sendable {
        case finished(RequestResult)
        /// When the restarted worker's process started, and when its new instance was seen registered.
        case rejoined((started: ContinuousClock.Instant, registered: ContinuousClock.Instant?))
    }

    /// The coordinator that leads now: the one that answers a call.
    static func leader(_ connection: CoordinatorConnection) async throws -> HostPort {
        _ = try await connection.call { try await $0.getAggregates(Handoff_V1_GetAggregatesRequest()) }
        return connection.currentLeader
    }

    /// Polls until `worker` is live again as an instance other than `replacing`; nil registration after 30 s.
    static func rejoin(
        connection: CoordinatorConnection, worker: String, replacing: UInt64,
        since started: ContinuousClock.Instant
    ) async throws -> (started: ContinuousClock.Instant, registered: ContinuousClock.Instant?) {
        while ContinuousClock.now < started + .seconds(30) {
            let workers = try await connection.call { try await $0.listWorkers(.init()).workers }
            if workers.contains(where: { $0.workerID == worker && $0.instance != replacing && $0.state == "live" }) {
                return (started, .now)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return (started, nil)
    }

    /// Admits one request (retrying while no pair has room) and waits for its account. When the coordinator that
    /// admitted it is lost (a cluster's failover), the new leader does not know the request: it is admitted again
    /// there, up to three times.
    static func drive(
        connection: CoordinatorConnection, id: String, model: String, tokens: Int, policy: LoadFailurePolicy,
        mode: TransferMode = .pull
    ) async -> RequestResult {
        var result = RequestResult(id: id)
        // The trace's root when spans are exported: the coordinator's and the workers' spans nest under it.
        let span = TraceParent.isTracing ? InstrumentationSystem.tracer.startSpan("handoff.demo.request") : nil
        span?.attributes["handoff.request_id"] = id
        span?.attributes["handoff.prompt_tokens"] = tokens
        defer {
            if !result.failure.isEmpty { span?.setStatus(SpanStatus(code: .error, message: result.failure)) }
            span?.end()
        }
        let request = Handoff_V1_AdmitRequest.with {
            $0.requestID = id
            $0.model = model
            $0.promptTokens = UInt32(tokens)
            $0.loadFailurePolicy = policy == .recompute ? .recompute : .fail
            $0.transferMode = mode.proto
            $0.traceparent = span.map { TraceParent.of($0.context) } ?? ""
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                let admission = try await connection.call { try await $0.admit(request) }
                if result.admittedAt == nil {
                    result.prefillWorker = admission.prefillWorker
                    result.admittedAt = .now
                }
                result.admissions.append((.now, connection.currentLeader))
            } catch let error as RPCError where error.code == .resourceExhausted && ContinuousClock.now < deadline {
                result.retries += 1
                try? await Task.sleep(for: .milliseconds(10))
                continue
            } catch {
                result.failure = "admission failed: \(error)"
                return result
            }
            do {
                let account = try await connection.call {
                    try await $0.await(
                        .with {
                            $0.requestID = id
                            $0.timeoutSeconds = 120
                        })
                }
                if account.state == "done" && account.verified {
                    result.account = account
                } else {
                    result.failure = "\(account.state): \(account.failure)"
                }
                return result
            } catch let error as RPCError
                where [.notFound, .unavailable].contains(error.code) && result.readmissions < 3
                && ContinuousClock.now < deadline
            {
                // The coordinator that admitted it is gone; its successor never heard of the request.
                result.readmissions += 1
            } catch {
                result.failure = "await failed: \(error)"
                return result
            }
        }
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
            $0.bar.update(done: $0.done, note: "finished, \($0.failed) failed")
        }
    }
}
