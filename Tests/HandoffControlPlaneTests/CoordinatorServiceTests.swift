import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import HandoffTestSupport
import Prometheus
import Testing

@Suite struct CoordinatorServiceTests {
    @Test func callsWithoutTheTokenAreRefusedAsUnauthenticated() async throws {
        try await withCoordinatorServer { address, _ in
            var wrong = address
            wrong.token = BearerToken.random()
            await #expect {
                try await withCoordinatorClient(wrong) { client in
                    _ = try await client.listWorkers(Handoff_V1_ListWorkersRequest())
                }
            } throws: { error in
                (error as? RPCError)?.code == .unauthenticated
            }
            let workers = try await withCoordinatorClient(address) { client in
                try await client.listWorkers(Handoff_V1_ListWorkersRequest()).workers
            }
            #expect(workers.isEmpty)
        }
    }

    @Test func aRefusedRegistrationEndsEverySessionWithItsStatusNeverOK() async throws {
        try await withCoordinatorServer { address, coordinator in
            try await withCoordinatorClient(address) { client in
                // The session's writer ended with the refusal and once raced it to the call's status.
                for attempt in 0..<40 {
                    let request = StreamingClientRequest(of: Handoff_V1_WorkerMessage.self) { writer in
                        try await writer.write(.with { $0.heartbeat = .with { $0.freeBlocks = 1 } })
                    }
                    await #expect("attempt \(attempt)") {
                        try await client.session(request: request) { response in
                            for try await _ in response.messages {}
                        }
                    } throws: { error in
                        guard let error = error as? RPCError else { return false }
                        return error.code == .invalidArgument && error.message.contains("must be Register")
                    }
                }
            }
            #expect(await coordinator.workerStatuses().isEmpty)
        }
    }

    @Test func badReportsAndAdmissionsComeBackAsClearStatuses() async throws {
        try await withCoordinatorServer { address, coordinator in
            try await withCoordinatorClient(address) { client in
                await #expect {
                    _ = try await client.report(
                        .with {
                            $0.workerID = "p0"
                            $0.prefillStarted = .with { $0.ticket = "t999" }
                        })
                } throws: { error in
                    // Outside a session, a report must prove its sender with the registration's report key.
                    guard let error = error as? RPCError else { return false }
                    return error.code == .permissionDenied && error.message.contains("report key")
                }
                await #expect {
                    _ = try await client.report(.with { $0.workerID = "p0" })
                } throws: { error in
                    (error as? RPCError)?.code == .invalidArgument
                }
                await #expect {
                    _ = try await client.admit(
                        .with {
                            $0.requestID = "r"
                            $0.model = "tiny"
                            $0.promptTokens = 16
                        })
                } throws: { error in
                    (error as? RPCError)?.code == .resourceExhausted
                }
                await #expect {
                    _ = try await client.getAccount(.with { $0.requestID = "nope" })
                } throws: { error in
                    (error as? RPCError)?.code == .notFound
                }
            }
            #expect(await coordinator.aggregates().admitted == 0)
        }
    }

    @Test func aRouteStreamAdmitsRefusesAndReportsEachOutcomeThenEndsAfterTheLastOne() async throws {
        try await withCoordinatorServer { address, coordinator in
            let prefill = Mailbox(identity: WorkerIdentity(id: "p0", instance: 1))
            let decode = Mailbox(identity: WorkerIdentity(id: "d0", instance: 1))
            try await coordinator.register(CoordinatorFixture.registration("p0", .prefill), outbox: prefill.outbox)
            try await coordinator.register(CoordinatorFixture.registration("d0", .decode), outbox: decode.outbox)
            let admits = BatchingOutbox<Handoff_V1_RouteRequest>()
            @Sendable func admit(_ id: String, model: String = "tiny") {
                admits.send(
                    .with {
                        $0.admit = .with {
                            $0.requestID = id
                            $0.model = model
                            $0.promptTokens = 40
                        }
                    })
            }
            let request = StreamingClientRequest(of: Handoff_V1_RouteRequest.self) { writer in
                while let batch = await admits.nextBatch() { try await writer.write(contentsOf: batch) }
            }
            try await withCoordinatorClient(address) { client in
                try await client.route(request: request) { response in
                    var events = response.messages.makeAsyncIterator()
                    admit("r1")
                    let admitted = try #require(try await events.next())
                    #expect(
                        admitted.requestID == "r1" && admitted.admitted.prefillWorker == "p0"
                            && admitted.admitted.blocks == 3)
                    admit("r1")
                    admit("r2", model: "no-such-model")
                    let duplicate = try #require(try await events.next())
                    #expect(
                        duplicate.requestID == "r1"
                            && duplicate.refused.code == Int32(RPCError.Code.alreadyExists.rawValue))
                    let unknownModel = try #require(try await events.next())
                    #expect(
                        unknownModel.requestID == "r2"
                            && unknownModel.refused.code == Int32(RPCError.Code.resourceExhausted.rawValue))
                    admits.finish()  // half-close: the stream must stay open until r1 finishes

                    let ticket = admitted.admitted.ticket
                    try await coordinator.report(
                        .prefillDone(sourceBlocks: [0, 1, 2]), ticket: ticket, from: prefill.identity)
                    try await coordinator.report(
                        .reserved(destinationBlocks: [7, 8, 9]), ticket: ticket, from: decode.identity)
                    try await coordinator.report(
                        .transferDone(CoordinatorFixture.stats(blocks: 3), verified: true), ticket: ticket,
                        from: decode.identity)
                    try await coordinator.report(
                        .firstToken(decodeSeconds: 0.001), ticket: ticket, from: decode.identity)
                    let finished = try #require(try await events.next())
                    #expect(
                        finished.requestID == "r1" && finished.finished.state == "done" && finished.finished.verified)
                    #expect(finished.finished.kvBytes == UInt64(3 * CoordinatorFixture.spec.blockBytes))
                    #expect(try await events.next() == nil)
                }
            }
            #expect(await coordinator.aggregates().admitted == 1)
        }
    }
}

@Suite(.serialized) struct DemoProcessTests {
    @Test func theDemoMovesVerifiedKVForEveryRequestAndPrintsItsAccount() async throws {
        let demo = try HandoffProcess([
            "demo", "--requests", "8", "--rate", "40", "--blocks", "128", "--prompt-tokens", "128,512", "--json",
        ])
        let (output, status) = try await demo.finish()
        #expect(status == 0, "demo output: \(output)")
        let line = try #require(output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["requests"] as? Int == 8)
        #expect(object["succeeded"] as? Int == 8)
        #expect(object["failed"] as? Int == 0)
        #expect((object["kv_bytes"] as? Int ?? 0) >= 8 * 128 * 128 * 1024)
        #expect((object["transports"] as? [String: Int])?["ucx"] == 8)
        for component in ["ttft", "queue", "prefill", "kv_transfer", "first_decode"] {
            let percentiles = try #require(object[component] as? [String: Double], "missing \(component)")
            #expect((percentiles["p50"] ?? -1) >= 0 && (percentiles["p99"] ?? -1) >= (percentiles["p50"] ?? 0))
        }
        let ttft = try #require(object["ttft"] as? [String: Double])
        let kv = try #require(object["kv_transfer"] as? [String: Double])
        #expect((kv["p50"] ?? 0) > 0 && (kv["p50"] ?? 0) < (ttft["p50"] ?? 0))
    }

    @Test func withUCXOffOnThePrefillSideEveryRequestMovesOverNativeTCP() async throws {
        let demo = try HandoffProcess([
            "demo", "--requests", "8", "--rate", "40", "--blocks", "128", "--prompt-tokens", "128,512",
            "--prefill-transport", "tcp", "--json",
        ])
        let (output, status) = try await demo.finish()
        #expect(status == 0, "demo output: \(output)")
        let line = try #require(output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["succeeded"] as? Int == 8)
        #expect((object["transports"] as? [String: Int]) == ["tcp": 8])
        // Decode runs auto: it fell back because the prefill side offers no UCX, and each account says so.
        #expect((object["fallbacks"] as? [String: Int]) == ["peer_without_ucx": 8])
        #expect((object["kv_bytes"] as? Int ?? 0) >= 8 * 128 * 128 * 1024)
    }

    @Test func aPrefillWorkerKilledMidRunLosesNoRequestAndServesAgainWithinOneHeartbeatOfRestarting() async throws {
        let demo = try HandoffProcess([
            // The tiny model restarts in milliseconds even on a loaded machine; pools have room for the load, so
            // admissions are never held back; prefill is slow enough (64-128 ms) that the killed worker is busy.
            "demo", "--requests", "80", "--rate", "20", "--model", "tiny", "--blocks", "256", "--prompt-tokens",
            "128,256",
            "--prefill-tokens-per-second", "2000", "--kill-prefill-after", "6", "--policy", "recompute", "--json",
        ])
        let (output, status) = try await demo.finish()
        #expect(status == 0, "demo output: \(output)")
        let line = try #require(output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        // Tickets on the killed worker were prefilled again elsewhere; every request succeeded, verified.
        #expect(object["succeeded"] as? Int == 80)
        #expect(object["failed"] as? Int == 0)
        #expect(object["killed_workers"] as? [String] == ["prefill-0"])
        #expect((object["recomputed"] as? Int ?? 0) >= 1, "the killed worker had no ticket in flight")
        let restart = try #require(object["restart"] as? [String: Any], "no restart report in \(line)")
        let heartbeat = try #require((restart["heartbeat_ms"] as? NSNumber)?.doubleValue)
        #expect(restart["rejoin_ms"] as? Double != nil, "the restarted worker never registered again")
        let firstPair = try #require(restart["first_pair_after_rejoin_ms"] as? Double, "never paired again: \(restart)")
        #expect(firstPair < heartbeat)
        #expect((restart["served_after_rejoin"] as? Int ?? 0) >= 1)
    }

    /// Three etcd members and three coordinators; the leader is SIGKILLed twice under load (and restarted), and a
    /// prefill worker is killed and restarted just before the second failover, so that the next leader finds its
    /// old instance in the registry.
    @Test func killingTheLeaderTwiceLosesNoRequestAndLeavesNoStaleInstance() async throws {
        let demo = try HandoffProcess([
            "demo", "--coordinators", "3", "--requests", "90", "--rate", "15", "--model", "tiny", "--blocks", "256",
            "--prompt-tokens", "128,256", "--prefill-tokens-per-second", "2000", "--kill-prefill-after", "58",
            // A 3 s lease: a coordinator on a starved test machine keeps it through a stall (the failover time is
            // the benchmark's to report with 1 s).
            "--policy", "recompute", "--leader-ttl-seconds", "3", "--json",
        ])
        let (output, status) = try await demo.finish()
        #expect(status == 0, "demo output: \(output)")
        let line = try #require(output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        // Every request ended done with its KV verified on the decode side, across both failovers.
        #expect(object["succeeded"] as? Int == 90)
        #expect(object["failed"] as? Int == 0)
        #expect(object["coordinator_exit"] as? Int == 0)

        let failovers = try #require(object["failovers"] as? [[String: Any]], "no failovers in \(line)")
        #expect(failovers.count == 2)
        for failover in failovers {
            // Recovered (the time is the benchmark's to report, not a test's to bound tightly).
            #expect((failover["next_admission_ms"] as? Double).map { $0 < 15_000 } == true, "\(failover)")
            #expect(failover["new_leader"] as? String != failover["killed"] as? String)
        }
        let metrics = try #require(object["leader_metrics"] as? [String: Double])
        // Each SIGKILL made one more leadership: the cluster's count went from 1 to at least 3.
        #expect((metrics["handoff_cluster_leader_term"] ?? 0) >= 3, "\(metrics)")
        #expect(metrics["handoff_cluster_is_leader"] == 1)

        // The last leader knows exactly one live instance of each worker: the restarted prefill worker's new one.
        let restart = try #require(object["restart"] as? [String: Any], "no worker restart in \(line)")
        let killedInstance = try #require(restart["killed_instance"] as? String)
        let workers = try #require(object["final_workers"] as? [[String: Any]])
        let live = workers.filter { $0["state"] as? String == "live" }
        #expect(Set(live.compactMap { $0["id"] as? String }) == ["prefill-0", "prefill-1", "decode-0", "decode-1"])
        #expect(live.count == 4)
        #expect(!live.contains { $0["instance"] as? String == killedInstance }, "a stale instance is live: \(live)")
    }
}
