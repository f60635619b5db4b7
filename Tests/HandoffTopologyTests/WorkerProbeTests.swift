import Foundation
import HandoffCore
import HandoffTestSupport
import Testing

/// `handoff topo --peer` against a running worker's native TCP data-plane port: on this host and from another
/// network namespace.
@Suite(.serialized) struct WorkerProbeTests {
    @Test(.timeLimit(.minutes(1))) func aWorkerPortAnswersWithItsIdentityTopologyAndAByteStream() async throws {
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        let worker = try cluster.worker("p1", role: "prefill")
        let endpoint = try await cluster.tcpEndpoint(of: "p1", on: "127.0.0.1")
        let (output, status) = try await PeerProbeOutput.of(
            try HandoffProcess(["topo", "--peer", endpoint, "--json", "--probe-mib", "8"], captureErrors: true))
        #expect(output.peer.reachable, "\(output.peer.error ?? "")")
        #expect(
            output.peer.worker?.id == "p1" && output.peer.worker?.role == "prefill"
                && output.peer.worker?.transport == "auto")
        #expect(output.peer.worker?.model == "llama-3.1-8b")
        #expect(Set(output.peer.worker?.offers ?? []) == ["ucx", "tcp"])
        #expect(output.peer.rtt_us?.count == 20 && (output.peer.rtt_us?.min ?? 0) > 0)
        #expect(output.peer.local_interface == "lo" && output.peer.remote_interface == "lo")
        let probe = try #require(output.peer.probe, "probe failed: \(output.peer.probe_error ?? "")")
        #expect(probe.kind == "tcp-stream" && probe.transport == "tcp" && probe.bytes == 8 << 20 && probe.gbps > 0)
        #expect(!probe.verified, "a byte stream is counted, not verified")
        let transport = try #require(output.findings.first { $0.code == "peer-transport" })
        #expect(transport.severity == "info" && transport.message.contains("on this host"))
        #expect(status == 0)
        _ = worker
    }

    @Test(.timeLimit(.minutes(2))) func aTCPOnlyWorkerInAnotherNamespaceIsReportedWithTheMTUMismatch() async throws {
        if let reason = await NetworkNamespacePair.unavailableReason { try Test.cancel("skipped: \(reason)") }
        let pair = try await NetworkNamespacePair.make(tag: "w")
        defer { pair.remove() }
        try await pair.setMTU(server: 1500, client: 1400)
        let cluster = try await TestCluster(in: pair.server, of: pair)
        defer { cluster.remove() }
        let worker = try cluster.worker("d1", role: "decode", ["--transport", "tcp"])
        let endpoint = try await cluster.tcpEndpoint(of: "d1", on: pair.serverAddress)
        let (output, status) = try await PeerProbeOutput.of(
            try pair.handoff(
                in: pair.client, ["topo", "--peer", endpoint, "--json", "--probe-mib", "8"], captureErrors: true))
        #expect(output.peer.reachable, "\(output.peer.error ?? "")")
        #expect(
            output.peer.worker?.id == "d1" && output.peer.worker?.transport == "tcp"
                && output.peer.worker?.offers == ["tcp"])
        #expect(output.peer.probe?.bytes == 8 << 20, "probe failed: \(output.peer.probe_error ?? "")")
        let transport = try #require(output.findings.first { $0.code == "peer-transport" })
        #expect(transport.severity == "warning" && transport.message.contains("runs --transport tcp"))
        let mtu = try #require(output.findings.first { $0.code == "mtu-mismatch" })
        #expect(mtu.message.contains("1400") && mtu.message.contains("1500"))
        #expect(status == 0)  // warnings only
        _ = worker
    }
}
