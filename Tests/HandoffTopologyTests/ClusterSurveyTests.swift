import Foundation
import Glibc
import HandoffCore
import HandoffTestSupport
import Testing

/// `handoff topo --coordinator` against a real coordinator with real worker processes.
@Suite struct ClusterSurveyTests {
    private func workers(_ json: [String: Any]) -> [String: [String: Any]] {
        Dictionary(
            (json["workers"] as? [[String: Any]] ?? []).map { ($0["id"] as? String ?? "", $0) },
            uniquingKeysWith: { a, _ in a })
    }

    private func findings(_ json: [String: Any]) -> [(severity: String, code: String, subject: String, message: String)]
    {
        (json["findings"] as? [[String: Any]] ?? []).map {
            (
                $0["severity"] as? String ?? "", $0["code"] as? String ?? "", $0["subject"] as? String ?? "",
                $0["message"] as? String ?? ""
            )
        }
    }

    @Test(.timeLimit(.minutes(2))) func listsWorkersWithTheirDataPlanesAndFindsTransportAndRoleProblems() async throws {
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        let prefillAuto = try cluster.worker("p-auto", role: "prefill", ["--node", "n1", "--rack", "r1"])
        let decodeTCP = try cluster.worker(
            "d-tcp", role: "decode", ["--transport", "tcp", "--tcp-listen", "127.0.0.1"])
        let prefillUCX = try cluster.worker("p-ucx", role: "prefill", model: "llama-3.1-70b", ["--transport", "ucx"])
        let decodeTCP70 = try cluster.worker(
            "d-tcp-70b", role: "decode", model: "llama-3.1-70b", ["--transport", "tcp"])
        let (json, status) = try await cluster.survey { $0.filter { $0["live"] as? Bool == true }.count == 4 }
        let listed = workers(json)
        #expect(listed.count == 4, "\(json)")
        #expect(status == 1, "a no-common-transport error must fail the run")

        let auto = try #require(listed["p-auto"])
        #expect(auto["role"] as? String == "prefill")
        #expect(auto["node"] as? String == "n1")
        #expect(auto["rack"] as? String == "r1")
        #expect(auto["transport"] as? String == "auto")
        #expect(auto["memory_type"] as? String == "host")
        #expect((auto["host_identity"] as? String)?.isEmpty == false)
        let autoOffers = (auto["offers"] as? [[String: Any]] ?? []).compactMap { $0["transport"] as? String }
        #expect(Set(autoOffers) == ["ucx", "tcp"])
        let decode = try #require(listed["d-tcp"])
        let endpoints = (decode["offers"] as? [[String: Any]])?.first?["endpoints"] as? [String] ?? []
        #expect(endpoints.count == 1 && endpoints[0].hasPrefix("127.0.0.1:"), "\(endpoints)")

        let found = findings(json)
        #expect(found.contains { $0.code == "worker-tcp-only" && $0.subject == "d-tcp" && $0.severity == "warning" })
        #expect(found.contains { $0.code == "worker-tcp-only" && $0.subject == "d-tcp-70b" })
        #expect(!found.contains { $0.code == "worker-tcp-only" && $0.subject.hasPrefix("p-") })
        let unpaired = try #require(found.first { $0.code == "no-common-transport" })
        #expect(unpaired.severity == "error")
        #expect(unpaired.message.contains("p-ucx") && unpaired.message.contains("d-tcp-70b"))
        #expect(!found.contains { $0.code == "role-missing" })
        // Same host: the loopback-only decode worker is reachable by its prefill peer from its own network
        // namespace only, which is information, not a problem.
        #expect(found.contains { $0.code == "worker-loopback-only" && $0.subject == "d-tcp" && $0.severity == "info" })

        // The only 8B decode worker goes away: it is reported lost with the reason, and 8B has no decode worker.
        decodeTCP.signal(SIGTERM)
        _ = try await decodeTCP.finish()
        let (after, _) = try await cluster.survey {
            $0.contains { $0["id"] as? String == "d-tcp" && $0["live"] as? Bool == false }
        }
        let lost = try #require(workers(after)["d-tcp"])
        #expect(lost["live"] as? Bool == false)
        #expect((lost["lost_reason"] as? String)?.isEmpty == false)
        let afterFindings = findings(after)
        // SIGTERM closes the worker's session in order: the coordinator records an orderly end, which is
        // information, not a warning.
        #expect(lost["lost_gracefully"] as? Bool == true, "lost: \(lost["lost_reason"] ?? "")")
        #expect(lost["lost_reason"] as? String == "the worker closed its session")
        #expect(afterFindings.contains { $0.code == "worker-lost" && $0.subject == "d-tcp" && $0.severity == "info" })
        #expect(
            afterFindings.contains {
                $0.code == "role-missing" && $0.subject == "llama-3.1-8b" && $0.severity == "error"
            })
        _ = (prefillAuto, prefillUCX, decodeTCP70)
    }

    @Test(.timeLimit(.minutes(1))) func anEmptyClusterIsAWarningAndAnUnreachableCoordinatorAnError() async throws {
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        let (json, status) = try await cluster.survey()
        #expect(status == 0)
        #expect(findings(json).map(\.code) == ["no-workers"])

        cluster.coordinator.signal(SIGTERM)
        _ = try await cluster.coordinator.finish()
        let process = try HandoffProcess(
            ["topo", "--coordinator", cluster.address, "--token-file", cluster.tokenFile.path], captureErrors: true)
        let (output, exit) = try await process.finish()
        #expect(exit == 2, "no report: apart from 1, an error finding")
        #expect(output.isEmpty)
        #expect(process.errorOutput().contains("cannot list the workers of the coordinator at \(cluster.address)"))
    }

    @Test(.timeLimit(.minutes(1))) func aWrongTokenIsRefusedWithAClearError() async throws {
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        let wrong = FileManager.default.temporaryDirectory.appendingPathComponent(
            "handoff-wrong-\(UInt64.random(in: 1...UInt64.max))")
        try Data("not-the-coordinators-token".utf8).write(to: wrong)
        defer { try? FileManager.default.removeItem(at: wrong) }
        let process = try HandoffProcess(
            ["topo", "--coordinator", cluster.address, "--token-file", wrong.path], captureErrors: true)
        let (_, exit) = try await process.finish()
        #expect(exit == 2)
        #expect(process.errorOutput().contains("unauthenticated"))
    }
}
