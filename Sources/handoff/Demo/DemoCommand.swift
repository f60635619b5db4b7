import ArgumentParser
import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffEtcd
import HandoffProto
import HandoffUCX

/// `handoff demo`: the whole P/D flow on one machine — a coordinator and workers as separate processes on
/// loopback, every byte of KV through the data plane — and where each request's time to first token went.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a coordinator and prefill/decode workers on loopback, drive requests, print the TTFT account.")

    /// The demo coordinator's heartbeat interval: a restarted worker should be paired again within it.
    static let heartbeatMilliseconds = 500

    @Option(help: "Requests to drive.") var requests = 40
    @Option(help: "Requests started per second.") var rate = 10.0
    @Option(help: "Prompt lengths in tokens to draw from, comma separated.") var promptTokens = "256,512,1024,2048"
    @Option(help: "Model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")).") var model = "llama-3.1-8b"
    @Option(help: "Prefill worker processes.") var prefillWorkers = 2
    @Option(help: "Decode worker processes.") var decodeWorkers = 2
    @Option(help: "Blocks in each worker's KV pool.") var blocks = 384
    @Option(help: "Prefill speed of the timing model, tokens/s.") var prefillTokensPerSecond = 20_000.0
    @Option(help: "Load-failure policy: fail or recompute.") var policy = "fail"
    @Option(
        help: ArgumentHelp(
            "Kill prefill-0 (SIGKILL) once this many requests have started and one waits for it to prefill (40 "
                + "requests later regardless); restart it a second later."))
    var killPrefillAfter: Int?
    @Option(help: "UCX transports (UCX_TLS) for the workers, comma separated.") var ucxTransports: String?
    @Option(help: "Data plane of every worker: auto, ucx or tcp.") var transport: TransportSelection = .auto
    @Option(help: "Data plane of the prefill workers only (e.g. tcp: UCX off on that side).") var prefillTransport:
        TransportSelection?
    @Option(help: "Data plane of the decode workers only.") var decodeTransport: TransportSelection?
    @Option(help: "Coordinators: more than one campaign for leadership through etcd (see --etcd).")
    var coordinators = 1
    @Option(help: "etcd member URLs for several coordinators (default: start 3 members of Debian's etcd).")
    var etcd: String?
    @Option(
        name: [.customLong("faults"), .customLong("kill-leader")],
        help:
            "With several coordinators: inject the fault (--fault) this many times, spread over the run (default 2)."
    )
    var faults: Int?
    @Option(
        help: ArgumentHelp(
            "With several coordinators, the fault to inject: kill-leader (SIGKILL, restarted 1 s later), pause-leader "
                + "(SIGSTOP, then SIGCONT), cut-leader-etcd (its links to etcd black-holed), etcd-member (one member "
                + "SIGKILLed), etcd-quorum (a majority SIGKILLed); each but the first undone after --fault-seconds."))
    var fault: DemoFault = .killLeader
    @Option(help: "How long a pause, cut or etcd outage lasts, seconds.") var faultSeconds = 5.0
    @Flag(help: "Run one busy process per core beside the demo for the whole run.") var cpuHog = false
    @Option(
        help:
            "With several coordinators: the leader's etcd lease TTL, seconds (1: the demo's etcd runs a 500 ms election timeout; more: etcd's defaults)."
    )
    var leaderTtlSeconds = 1
    @Option(help: "Seed of the prompt-length draw.") var seed: UInt64 = 1
    @Flag(
        help: ArgumentHelp(
            "Start Prometheus (when installed) scraping the coordinators, print the live view's and Prometheus' URLs, "
                + "and keep everything running after the requests until interrupted (Ctrl-C)."))
    var observe = false
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Flag(help: "Exit 0 even when requests failed.") var allowFailures = false

    func run() async throws {
        try await TraceExport.withExport(serviceName: "handoff-demo") { try await runDemo() }
    }

    private func runDemo() async throws {
        let mix = promptTokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !mix.isEmpty, mix.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--prompt-tokens needs positive numbers")
        }
        guard let policy = LoadFailurePolicy(rawValue: policy) else {
            throw ValidationError("--policy must be fail or recompute")
        }
        guard requests > 0, rate > 0 else { throw ValidationError("--requests and --rate must be positive") }
        let preset = try ModelPreset.named(model)
        let spec = KVLayoutSpec(
            preset: preset, blockTokens: KVGeometry.defaultBlockTokens, arrangement: .split, numBlocks: blocks)
        if let largest = mix.max(), spec.blocks(forTokens: largest) > blocks {
            throw ValidationError(
                "a \(largest)-token prompt needs \(spec.blocks(forTokens: largest)) blocks; --blocks is \(blocks)")
        }

        var workers: [(id: String, arguments: [String])] = []
        for (role, count) in [("prefill", prefillWorkers), ("decode", decodeWorkers)] {
            for index in 0..<count {
                var arguments = [
                    "worker", "--role", role, "--id", "\(role)-\(index)", "--model", preset.name, "--blocks",
                    "\(blocks)",
                    "--prefill-tokens-per-second", "\(prefillTokensPerSecond)", "--log-level", "warning",
                ]
                if let ucxTransports { arguments += ["--ucx-transports", ucxTransports] }
                let chosen = (role == "prefill" ? prefillTransport : decodeTransport) ?? transport
                arguments += ["--transport", chosen.rawValue, "--tcp-listen", "127.0.0.1"]
                workers.append(("\(role)-\(index)", arguments))
            }
        }
        let say: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        say(
            "starting a coordinator, \(prefillWorkers) prefill and \(decodeWorkers) decode workers (\(preset.name), \(blocks) blocks of \(spec.blockBytes >> 10) KiB each)"
        )
        if coordinators > 1, etcd != nil, !fault.targetsLeader {
            throw ValidationError("--fault \(fault.rawValue) needs the demo's own etcd members: leave --etcd out")
        }
        let hog = cpuHog ? try CPUHog() : nil
        defer { hog?.stop() }
        if cpuHog { say("running \(ProcessInfo.processInfo.activeProcessorCount) busy processes beside the demo") }
        let (etcdCluster, etcdEndpoints) = try await startEtcd(say: say)
        let cluster: DemoCluster
        do {
            cluster = try await DemoCluster(
                coordinatorArguments: [
                    "--heartbeat-ms", "\(Self.heartbeatMilliseconds)", "--transfer-timeout-seconds", "10",
                    "--state-timeout-seconds", "30", "--log-level", "warning",
                ],
                coordinators: coordinators, etcd: etcdEndpoints, leaderTTLSeconds: leaderTtlSeconds,
                cuttableEtcd: fault == .cutLeaderEtcd, workers: workers)
        } catch {
            await etcdCluster?.stop()
            throw error
        }
        let outcome: DemoOutcome
        var leaderMetrics: [String: Double] = [:]
        var finalWorkers: [Handoff_V1_WorkerInfo] = []
        var unexpectedEndings: [String] = []
        let observation: DemoObservation?
        do {
            observation = observe ? try await Self.startObservation(cluster, say: say) : nil
        } catch {
            _ = await cluster.stop()
            await etcdCluster?.stop()
            throw error
        }
        defer { observation?.stop() }
        do {
            // With several coordinators a call follows the leader through faults that last a while (a lost etcd
            // quorum, a leadership that flaps on a starved machine) before it gives up.
            let failover: Duration = coordinators > 1 ? .seconds(60) : .seconds(15)
            outcome = try await withCoordinatorConnection(cluster.address, failoverTimeout: failover) { connection in
                try await Self.waitForWorkers(connection, count: prefillWorkers + decodeWorkers)
                say("workers registered; driving \(requests) requests at \(rate)/s")
                var driver = DemoDriver(
                    connection: connection, cluster: cluster, model: preset.name, mix: mix, requests: requests,
                    rate: rate, policy: policy, killPrefillAfter: killPrefillAfter, seed: seed)
                driver.faultPoints = faultPoints()
                if coordinators > 1 {
                    driver.injector = DemoFaultInjector(fault: fault, cluster: cluster, etcd: etcdCluster)
                }
                driver.faultSeconds = faultSeconds
                let outcome = try await driver.run()
                unexpectedEndings = cluster.unexpectedEndings
                if coordinators > 1, let port = cluster.metricsPorts[try await DemoDriver.leader(connection)] {
                    leaderMetrics = try await MetricsScrape.samples(port: port)
                    finalWorkers = try await connection.call { try await $0.listWorkers(.init()).workers }
                }
                return outcome
            }
        } catch {
            _ = await cluster.stop()
            await etcdCluster?.stop()
            throw error
        }
        if observe {
            say(
                "the run is over: \(outcome.succeeded.count) of \(requests) requests succeeded; still serving the live "
                    + "view and Prometheus until interrupted (Ctrl-C)")
            await DemoObservation.waitForInterrupt()
        }
        let coordinatorStatus = await cluster.stop()
        await etcdCluster?.stop()
        let statistics = DemoStatistics(succeeded: outcome.succeeded, failed: outcome.failed)
        if json {
            print(
                statistics.json(
                    requests: requests,
                    extra: [
                        "decision_p99_ms": outcome.decisionP99 * 1000, "admission_retries": outcome.admissionRetries,
                        "recomputed": outcome.recomputed, "coordinator_exit": Int(coordinatorStatus),
                        "killed_workers": outcome.killed, "restart": outcome.restart.map(Self.json) ?? NSNull(),
                        "coordinators": coordinators, "failovers": outcome.faults.map(Self.json),
                        "readmissions": outcome.readmissions,
                        "overlapping_admissions": outcome.overlappingAdmissions, "refusals": outcome.refusals,
                        "coordinators_ended_unexpectedly": unexpectedEndings,
                        "queued_at_paused_leader": outcome.queuedAtPausedLeader.map {
                            [
                                "sent": $0.sent, "admitted": $0.admitted, "refused": $0.refused, "other": $0.other,
                                "first_other": $0.firstOther,
                            ] as [String: Any]
                        } ?? NSNull(),
                        "leader_metrics": leaderMetrics.filter {
                            $0.key.hasPrefix("handoff_cluster_") && !$0.key.contains("_bucket")
                        },
                        "final_workers": finalWorkers.map {
                            ["id": $0.workerID, "instance": "\($0.instance)", "state": $0.state] as [String: Any]
                        },
                    ]))
        } else {
            print(statistics.table())
            print(
                String(
                    format:
                        "requests: %d, succeeded: %d, failed: %d; coordinator decision p99 %.3f ms; admission retries %d",
                    requests, outcome.succeeded.count, outcome.failed.count, outcome.decisionP99 * 1000,
                    outcome.admissionRetries))
            if let restart = outcome.restart { print(Self.describe(restart, recomputed: outcome.recomputed)) }
            for failover in outcome.faults { print(Self.describe(failover)) }
            if coordinators > 1 {
                print(
                    "admissions by an older leadership after a newer one's: \(outcome.overlappingAdmissions); "
                        + "coordinators that ended on their own: "
                        + (unexpectedEndings.isEmpty ? "none" : unexpectedEndings.joined(separator: ", ")))
                for refusal in outcome.refusals.prefix(3) { print("refusal seen: \(refusal)") }
                if let queued = outcome.queuedAtPausedLeader {
                    print(
                        "admissions queued at the paused leader: \(queued.sent) sent, \(queued.refused) refused when "
                            + "it woke, \(queued.admitted) admitted, \(queued.other) failed otherwise")
                }
                print(
                    "requests admitted again after their coordinator was lost: \(outcome.readmissions); leader term "
                        + "\(leaderMetrics["handoff_cluster_leader_term"].map { String(Int($0)) } ?? "?") "
                        + "(leaderships since the cluster began)")
            }
            for failure in outcome.failed.prefix(10) { print("failed \(failure.id): \(failure.reason)") }
        }
        if (!outcome.failed.isEmpty || !unexpectedEndings.isEmpty) && !allowFailures { throw ExitCode(1) }
    }

    /// Starts Prometheus on the coordinators and says where to look.
    private static func startObservation(_ cluster: DemoCluster, say: (String) -> Void) async throws -> DemoObservation
    {
        let ports = cluster.metricsPorts.values.sorted()
        let observation = try DemoObservation(metricsPorts: ports)
        for port in ports { say("observe: live view http://127.0.0.1:\(port)/ (metrics at /metrics)") }
        if let url = observation.prometheusURL, await observation.waitUntilReady() {
            let rules = observation.rulesPath.map { "alert rules from \($0)" } ?? "no alert rules (run from a clone)"
            say("observe: Prometheus \(url)/ (\(rules); alerts at \(url)/alerts)")
            say("observe: Grafana: provision deploy/grafana with a Prometheus data source at \(url)")
        } else if observation.prometheusURL != nil {
            say("observe: Prometheus did not start (or answer within 30 s): the live view only")
        } else {
            say("observe: Prometheus is not installed (apt-get install prometheus): the live view only")
        }
        let environment = ProcessInfo.processInfo.environment
        if TraceExport.isRequested(environment) {
            let endpoint =
                environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
                ?? "the OTLP default"
            say("observe: traces exported to \(endpoint) (OTLP): one trace per request, from this demo's span down")
        } else {
            say("observe: traces off; set OTEL_EXPORTER_OTLP_ENDPOINT (an OTLP collector) to export one per request")
        }
        return observation
    }

    /// Starts the demo's etcd members when several coordinators need one and no --etcd was given.
    private func startEtcd(say: (String) -> Void) async throws -> (LocalEtcdCluster?, EtcdEndpoints?) {
        guard coordinators > 1 else { return (nil, nil) }
        if let etcd { return (nil, try EtcdEndpoints(parsing: etcd)) }
        // etcd grants a lease no shorter than 1.5 × its election timeout.
        let (heartbeat, election) = leaderTtlSeconds < 2 ? (50, 500) : (100, 1000)
        say("starting 3 etcd members on loopback (heartbeat \(heartbeat) ms, election timeout \(election) ms)")
        let members = try await LocalEtcdCluster(
            members: 3, heartbeatMilliseconds: heartbeat, electionTimeoutMilliseconds: election)
        return (members, members.endpoints)
    }

    /// The request indices before which a fault strikes: evenly spread over the run.
    private func faultPoints() -> [Int] {
        guard coordinators > 1 else { return [] }
        let kills = faults ?? 2
        return (1...max(kills, 1)).prefix(kills).map { requests * $0 / (kills + 1) }
    }

    static func json(_ fault: FaultReport) -> [String: Any] {
        let milliseconds: (Double?) -> Any = { $0.map { $0 * 1000 } ?? NSNull() }
        return [
            "fault": fault.kind.rawValue, "killed": fault.target,
            "new_leader": fault.newLeader?.description ?? NSNull(),
            "next_admission_ms": milliseconds(fault.nextAdmissionSeconds),
            "longest_admission_wait_ms": milliseconds(fault.longestAdmissionWaitSeconds),
            "recovery_ms": milliseconds(fault.recoverySeconds),
            "lasted_ms": milliseconds(fault.healedAt.map { ($0 - fault.startedAt).seconds }),
        ]
    }

    static func describe(_ fault: FaultReport) -> String {
        let ms: (Double?) -> String = { $0.map { String(format: "%.0f ms", $0 * 1000) } ?? "never" }
        let what =
            switch fault.kind {
            case .killLeader: "leader \(fault.target) killed (SIGKILL)"
            case .pauseLeader: "leader \(fault.target) paused (SIGSTOP)"
            case .cutLeaderEtcd: "leader \(fault.target) cut off from etcd"
            case .etcdMember, .etcdQuorum: "\(fault.target) killed (SIGKILL)"
            }
        return "\(what): next request admitted \(ms(fault.nextAdmissionSeconds)) later"
            + (fault.kind.targetsLeader ? " by another coordinator" : "")
            + ", longest wait for an admission \(ms(fault.longestAdmissionWaitSeconds)), "
            + "first admission after it was undone \(ms(fault.recoverySeconds)); leader next: "
            + (fault.newLeader?.description ?? "?")
    }

    static func json(_ restart: RestartReport) -> [String: Any] {
        [
            "worker": restart.worker, "rejoin_ms": restart.rejoinSeconds.map { $0 * 1000 } ?? NSNull(),
            "first_pair_after_rejoin_ms": restart.firstPairSeconds.map { $0 * 1000 } ?? NSNull(),
            "served_after_rejoin": restart.servedAfterRejoin, "heartbeat_ms": heartbeatMilliseconds,
            "killed_instance": "\(restart.killedInstance)",
        ]
    }

    static func describe(_ restart: RestartReport, recomputed: Int) -> String {
        guard let rejoin = restart.rejoinSeconds else {
            return "\(restart.worker) was killed and restarted but did not register again; recomputed: \(recomputed)"
        }
        let paired =
            restart.firstPairSeconds.map { String(format: "paired again %.0f ms later", $0 * 1000) }
            ?? "never paired again"
        return "\(restart.worker) killed (SIGKILL) and restarted: "
            + String(format: "registered again %.0f ms after its restart, ", rejoin * 1000)
            + "\(paired) (heartbeat \(heartbeatMilliseconds) ms), served \(restart.servedAfterRejoin) requests after; "
            + "requests recomputed elsewhere: \(recomputed)"
    }

    static func waitForWorkers(_ connection: CoordinatorConnection, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let workers = try await connection.call {
                try await $0.listWorkers(Handoff_V1_ListWorkersRequest()).workers
            }
            if workers.filter({ $0.state == "live" }).count >= count {
                try await Task.sleep(for: .milliseconds(300))  // let decode workers finish their eager connections
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError.peerFailed("workers did not register within 60 s")
    }
}
