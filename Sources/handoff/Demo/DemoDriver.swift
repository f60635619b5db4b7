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
    /// The faults injected into the control plane, in order (several coordinators only).
    var faults: [FaultReport] = []
    /// Requests admitted again after the coordinator that admitted them was lost.
    var readmissions = 0
    /// Admissions that a coordinator of an older leadership made after one of a newer leadership had admitted
    /// (two leaders admitting at once): the admission was sent after another term's admission had been answered.
    var overlappingAdmissions = 0
    /// A few of the refusals seen while looking for the leader (distinct messages).
    var refusals: [String] = []
    /// Admissions sent straight to a paused leader (`--fault pause-leader`), answered when it woke up.
    var queuedAtPausedLeader: QueuedAdmissions.Outcome?
}

/// One fault injected into the control plane and how the cluster came back.
struct FaultReport: Sendable {
    var kind: DemoFault
    /// What was struck: a coordinator's address, or etcd members.
    var target: String
    /// The coordinator struck, for faults on the leader.
    var victim: HostPort?
    var startedAt: ContinuousClock.Instant
    /// When the fault was undone (the coordinator restarted or resumed, the link or the members back).
    var healedAt: ContinuousClock.Instant?
    /// Fault → the next request admitted (for a fault on the leader, by another coordinator), seconds.
    var nextAdmissionSeconds: Double?
    /// The longest a request waited to be admitted (from its first try, through refusals and retries, to its
    /// admission) among those first tried from the fault until 3 s after it was undone, seconds.
    var longestAdmissionWaitSeconds: Double?
    /// Undone → the next request admitted, seconds.
    var recoverySeconds: Double?
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
    /// Request indices before which a fault strikes the control plane, and what does it.
    var faultPoints: [Int] = []
    var injector: DemoFaultInjector?
    /// How long a pause, cut or etcd outage lasts.
    var faultSeconds = 5.0
    /// Admissions to queue at a paused leader.
    var queuedAdmissions = 8
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
        var activeFault: (target: DemoFaultInjector.Target, due: ContinuousClock.Instant, report: Int)?
        let connection = self.connection
        let model = self.model
        let policy = self.policy
        let token = cluster.token
        let queued = queuedAdmissions
        let faultSeconds = self.faultSeconds
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
                if let active = activeFault, let injector, active.due <= .now || faultPoints.contains(index) {
                    try await Task.sleep(until: active.due)
                    try await injector.heal(active.target)
                    outcome.faults[active.report].healedAt = .now
                    activeFault = nil
                }
                if let injector, faultPoints.contains(index) {
                    let leader = try await Self.leader(connection)
                    if let last = outcome.faults.indices.last { outcome.faults[last].newLeader = leader }
                    if injector.fault == .pauseLeader, queued > 0 {
                        // A client that does not follow the leader, connected before the pause.
                        let ready = AsyncStream.makeStream(of: Void.self)
                        group.addTask {
                            let probe = QueuedAdmissions(endpoint: leader, token: token, count: queued)
                            let outcome = await probe.send(
                                model: model, connected: { ready.continuation.finish() },
                                // Once the paused leader's lease surely lapsed and another may lead.
                                sendAt: { try? await Task.sleep(for: .seconds(min(faultSeconds / 2, 2))) },
                                timeout: .seconds(faultSeconds + 10))
                            return .queued(outcome)
                        }
                        for await _ in ready.stream {}
                    }
                    let target = injector.inject(leader: leader)
                    outcome.faults.append(
                        FaultReport(
                            kind: injector.fault, target: DemoFaultInjector.describe(target),
                            victim: injector.fault.targetsLeader ? leader : nil, startedAt: .now))
                    activeFault = (
                        target, .now + injector.fault.duration(faultSeconds: faultSeconds), outcome.faults.count - 1
                    )

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
            if let active = activeFault, let injector {
                try await Task.sleep(until: active.due)
                try await injector.heal(active.target)
                outcome.faults[active.report].healedAt = .now
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
            case .queued(let queued): outcome.queuedAtPausedLeader = queued
            }
        }
        let admissions = results.flatMap(\.admissions)
        let end = ContinuousClock.now
        for index in outcome.faults.indices {
            outcome.faults[index].measure(admissions, end: end)
        }
        if let last = outcome.faults.indices.last {
            outcome.faults[last].newLeader = try await Self.leader(connection)
        }
        outcome.overlappingAdmissions = Self.overlapping(admissions)
        var refusals: [String] = []
        for message in results.flatMap(\.refusals) where !refusals.contains(message) && refusals.count < 5 {
            refusals.append(message)
        }
        outcome.refusals = refusals
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
        /// Each attempt's admission.
        var admissions: [Admitted] = []
        /// Refusals seen while looking for the leader (their messages, without the request's id).
        var refusals: [String] = []
        /// Admissions again after the coordinator that admitted it was lost.
        var readmissions = 0
    }

    enum DriverEvent: Sendable {
        case finished(RequestResult)
        /// When the restarted worker's process started, and when its new instance was seen registered.
        case rejoined((started: ContinuousClock.Instant, registered: ContinuousClock.Instant?))
        /// What became of the admissions queued at a paused leader.
        case queued(QueuedAdmissions.Outcome)
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
        var tried = ContinuousClock.now
        while true {
            do {
                var sent = ContinuousClock.now
                let admission = try await connection.call(
                    onRetry: { error in
                        sent = .now
                        if let error = error as? RPCError, result.refusals.count < 8 {
                            result.refusals.append("\(error.code): \(error.message)")
                        }
                    },
                    { try await $0.admit(request) })
                if result.admittedAt == nil {
                    result.prefillWorker = admission.prefillWorker
                    result.admittedAt = .now
                }
                result.admissions.append(
                    Admitted(
                        tried: tried, sent: sent, at: .now, by: connection.currentLeader,
                        term: Admitted.term(of: admission.ticket)))
            } catch let error as RPCError where error.code == .alreadyExists && result.refusals.count > 0 {
                // A retried admission whose first answer was lost (the connection broke after the coordinator
                // admitted it): it is in, so wait for it like any other.
                if result.admittedAt == nil { result.admittedAt = .now }
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
                tried = .now
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

/// One admission as the driver saw it.
struct Admitted: Sendable {
    /// When this admission was first tried (retries after refusals included).
    var tried: ContinuousClock.Instant
    /// When the call that was answered was sent (no later than the coordinator admitted).
    var sent: ContinuousClock.Instant
    /// When the answer came (no earlier than the coordinator admitted).
    var at: ContinuousClock.Instant
    var by: HostPort
    /// The leadership that admitted it, from its ticket id (`t3.17`); 0 for a coordinator alone.
    var term: Int

    static func term(of ticket: String) -> Int {
        guard ticket.hasPrefix("t"), let dot = ticket.firstIndex(of: ".") else { return 0 }
        return Int(ticket[ticket.index(after: ticket.startIndex)..<dot]) ?? 0
    }
}

extension DemoDriver {
    /// Admissions proven to come after a newer leadership's: sent after an admission of a later term was answered.
    static func overlapping(_ admissions: [Admitted]) -> Int {
        var firstAnswer: [Int: ContinuousClock.Instant] = [:]
        for admission in admissions {
            firstAnswer[admission.term] = min(firstAnswer[admission.term] ?? admission.at, admission.at)
        }
        return admissions.filter { admission in
            firstAnswer.contains { term, answered in term > admission.term && admission.sent > answered }
        }.count
    }
}

extension FaultReport {
    /// Fills in the times from the run's admissions.
    mutating func measure(_ admissions: [Admitted], end: ContinuousClock.Instant) {
        let start = startedAt
        let victim = self.victim
        nextAdmissionSeconds =
            admissions.filter { $0.at > start && $0.by != victim }.map(\.at).min().map { ($0 - start).seconds }
        let windowEnd = min(end, (healedAt ?? end) + .seconds(3))
        longestAdmissionWaitSeconds =
            admissions.filter { $0.tried >= start && $0.tried < windowEnd }.map { ($0.at - $0.tried).seconds }.max()
        if let healed = healedAt {
            recoverySeconds = admissions.map(\.at).filter { $0 > healed }.min().map { ($0 - healed).seconds }
        }
    }
}
