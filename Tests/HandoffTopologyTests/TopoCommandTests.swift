import Foundation
import HandoffCore
import HandoffTestSupport
import Testing

/// `handoff topo` as a user runs it: on this machine and on recorded ones, as a table and as JSON.
@Suite struct TopoCommandTests {
    private func run(_ arguments: [String]) async throws -> (json: [String: Any], status: Int32, errors: String) {
        let process = try HandoffProcess(["topo", "--json"] + arguments, captureErrors: true)
        let (output, status) = try await process.finish()
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return (try #require(json, "not a JSON object: \(output)"), status, process.errorOutput())
    }

    private func findings(_ json: [String: Any]) -> [[String: String]] {
        (json["findings"] as? [[String: Any]] ?? []).map { $0.compactMapValues { $0 as? String } }
    }

    @Test func liveRunOnThisMachineReportsEveryPartAndSaysTransfersUseTCP() async throws {
        let (json, status, errors) = try await run([])
        for key in ["interfaces", "rdma_devices", "ucx", "gpus", "affinity", "findings", "memlock"] {
            #expect(json.keys.contains(key), "missing \(key)")
        }
        #expect(json["source"] as? String == "live")
        let interfaces = try #require(json["interfaces"] as? [[String: Any]])
        #expect(interfaces.contains { $0["name"] as? String == "lo" && $0["kind"] as? String == "loopback" })
        let ucx = try #require(json["ucx"] as? [String: Any])
        let transports = (ucx["resources"] as? [[String: Any]] ?? []).compactMap { $0["transport"] as? String }
        #expect(transports.contains("tcp"))
        // This machine has no RDMA device (if one ever does, the no-rdma finding must be absent instead).
        let rdma = try #require(json["rdma_devices"] as? [Any])
        let noRDMA = findings(json).first { $0["code"] == "no-rdma" }
        if rdma.isEmpty {
            #expect(status == 0, "stderr: \(errors)")
            #expect(noRDMA?["severity"] == "warning")
            #expect(noRDMA?["message"]?.contains("KV transfers will use TCP") == true)
            #expect(noRDMA?["advice"]?.isEmpty == false)
            let required = try await run(["--require-rdma"])
            #expect(required.status == 1)
            #expect(findings(required.json).first?["code"] == "no-rdma")
        } else {
            #expect(noRDMA == nil)
        }
    }

    @Test func liveMemlockLimitIsCheckedAgainstThePool() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit)
        guard limit.rlim_cur != rlim_t.max else {
            // Unlimited: reported as null, and no pool is too large.
            let (json, _, _) = try await run(["--kv-pool-bytes", "1024TiB"])
            #expect((json["memlock"] as? [String: Any])?["current_bytes"] is NSNull)
            #expect(!findings(json).contains { $0["code"] == "memlock-low" })
            return
        }
        let (json, _, _) = try await run(["--kv-pool-bytes", String(UInt64(limit.rlim_cur) + 1)])
        let memlock = try #require(json["memlock"] as? [String: Any])
        #expect((memlock["current_bytes"] as? NSNumber)?.uint64Value == UInt64(limit.rlim_cur))
        #expect(findings(json).contains { $0["code"] == "memlock-low" })
        let (fits, _, _) = try await run(["--kv-pool-bytes", String(UInt64(limit.rlim_cur))])
        #expect(!findings(fits).contains { $0["code"] == "memlock-low" })
    }

    @Test func recordedGPUServerReportsTheGPUTheMLX5NICAndTheirRelation() async throws {
        let (json, status, errors) = try await run(["--from", Fixture.wholeIO])
        #expect(status == 0, "stderr: \(errors)")
        let gpus = try #require(json["gpus"] as? [[String: Any]])
        #expect(
            gpus.contains { ($0["os_devices"] as? [String])?.contains("cuda0") == true && $0["numa_node"] as? Int == 1 }
        )
        let rdma = try #require(json["rdma_devices"] as? [[String: Any]])
        #expect(rdma.map { $0["name"] as? String } == ["mlx5_0"])
        let affinity = try #require(json["affinity"] as? [[String: Any]])
        let pair = try #require(affinity.first { $0["gpu"] as? String == "GPU2" && $0["nic"] as? String == "mlx5_0" })
        #expect(pair["relation"] as? String == "PIX")
        #expect(pair["rdma"] as? Bool == true)
        #expect(json["ucx"] is NSNull && json["memlock"] is NSNull)
    }

    @Test func errorFindingsMakeTheExitStatusNonZero() async throws {
        let bad = try await run(["--from", Fixture.roceMisconfigured, "--kv-pool-bytes", "64GiB"])
        #expect(bad.status == 1)
        #expect(findings(bad.json).first?["severity"] == "error")
        let healthy = try await run(["--from", Fixture.infiniBandHealthy, "--kv-pool-bytes", "64GiB", "--require-rdma"])
        #expect(healthy.status == 0)
        #expect(findings(healthy.json).isEmpty)
    }

    @Test func tableNamesEverySectionAndEachFinding() async throws {
        let process = try HandoffProcess(["topo", "--from", Fixture.roceMisconfigured], captureErrors: true)
        let (output, status) = try await process.finish()
        #expect(status == 1)
        for section in ["Network interfaces", "RDMA devices", "UCX 1.13.1", "GPUs", "GPU to NIC (PCIe)", "Findings"] {
            #expect(output.contains(section), "missing \(section)")
        }
        #expect(output.contains("ERROR   ucx-restricted"))
        #expect(!output.contains("\u{1B}["))  // no colour when piped
    }

    @Test func badArgumentsAreRefusedWithTheReason() async throws {
        for arguments in [
            ["--from", "/nonexistent.xml"], ["--kv-pool-bytes", "12XB"], ["--kv-pool-bytes", "99999999999TiB"],
            ["--peer", "127.0.0.1:1", "--probe-mib", "2048"], ["--probe-mib", "8"], ["--token-file", "/tmp/t"],
            ["--coordinator", "127.0.0.1:1", "--require-rdma"],
            ["--coordinator", "127.0.0.1:1", "--peer", "127.0.0.1:2"],
        ] {
            let process = try HandoffProcess(["topo"] + arguments, captureErrors: true)
            let (output, status) = try await process.finish()
            #expect(status != 0 && status != 1, "\(arguments): exit \(status)")
            #expect(output.isEmpty)
            #expect(!process.errorOutput().isEmpty)
        }
    }
}
