import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffTestSupport
import HandoffUCX
import Testing

/// `handoff topo --peer` against a real `handoff bench serve`: on this host, across two network namespaces, and
/// against nothing.
@Suite(.serialized) struct PeerProbeTests {
    /// `handoff topo --peer … --json`, in `namespace` when given.
    private func probe(
        _ address: String, in pair: NetworkNamespacePair? = nil, _ extra: [String] = []
    ) async throws -> (PeerProbeOutput, Int32) {
        let arguments = ["topo", "--peer", address, "--json", "--probe-mib", "8"] + extra
        return try await PeerProbeOutput.of(
            try pair.map { try $0.handoff(in: $0.client, arguments, captureErrors: true) }
                ?? HandoffProcess(arguments, captureErrors: true))
    }

    @Test(.timeLimit(.minutes(1))) func peerOnThisHostIsReachedOverSharedMemory() async throws {
        let server = try HandoffProcess(["bench", "serve", "--listen", "127.0.0.1:0"])
        let listening = try await server.readLine()
        let address = String(try #require(listening.split(separator: " ").last))
        let (output, status) = try await probe(address)
        server.signal(SIGTERM)
        #expect(output.peer.reachable)
        #expect(output.peer.rtt_us?.count == 20)
        #expect((output.peer.rtt_us?.min ?? 0) > 0)
        #expect(output.peer.local_interface == "lo" && output.peer.remote_interface == "lo")
        let probe = try #require(output.peer.probe, "probe failed: \(output.peer.probe_error ?? "")")
        #expect(probe.kind == "kv-read" && probe.verified && probe.bytes == 8 << 20)
        #expect(output.peer.worker == nil, "bench serve is no worker")
        let transport = try #require(output.findings.first { $0.code == "peer-transport" })
        if probe.transport == "ucx" && probe.ucx_transports.contains(where: { ["posix", "sysv", "cma"].contains($0) }) {
            #expect(transport.severity == "info" && transport.message.contains("shared memory"))
        } else {
            #expect(transport.severity == "warning")
        }
        #expect(status == 0)
    }

    @Test(.timeLimit(.minutes(2))) func peerAcrossNamespacesFallsBackToTCPAndShowsTheMTUMismatch() async throws {
        if let reason = await NetworkNamespacePair.unavailableReason { try Test.cancel("skipped: \(reason)") }
        let pair = try await NetworkNamespacePair.make(tag: "p")
        defer { pair.remove() }
        try await pair.setMTU(server: 1500, client: 1400)
        let server = try pair.handoff(in: pair.server, ["bench", "serve", "--listen", "\(pair.serverAddress):7472"])
        #expect(try await server.readLine() == "LISTENING \(pair.serverAddress):7472")
        // Namespaces share one host, where UCX would pick shared memory: the probe asks for UCX's tcp, as between hosts.
        let (output, status) = try await probe("\(pair.serverAddress):7472", in: pair, ["--ucx-transports", "tcp"])
        server.signal(SIGTERM)
        #expect(output.peer.reachable)
        let probe = try #require(output.peer.probe, "probe failed: \(output.peer.probe_error ?? "")")
        #expect(probe.verified)
        #expect(probe.transport == "tcp" || probe.ucx_transports == ["tcp"])
        let transport = try #require(output.findings.first { $0.code == "peer-transport" })
        #expect(transport.severity == "warning")
        #expect(transport.message.contains("falls back to TCP because neither side has an active RDMA port"))
        let mtu = try #require(
            output.findings.first { $0.code == "mtu-mismatch" && $0.subject == "\(pair.serverAddress):7472" })
        #expect(mtu.message.contains("MTU of 1400") && mtu.message.contains("1500"))
        #expect(output.peer.local_interface != nil && output.peer.remote_interface != nil)
        #expect(status == 0)  // warnings only
    }

    @Test func unreachablePeerIsAnErrorFinding() async throws {
        // Bind a port and close it again: nothing listens there.
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        listener.close()
        let (output, status) = try await probe("127.0.0.1:\(port)")
        #expect(!output.peer.reachable)
        #expect(output.peer.error?.contains("refused") == true)
        #expect(output.findings.first?.code == "peer-unreachable" && output.findings.first?.severity == "error")
        #expect(status == 1)
    }

    @Test(.timeLimit(.minutes(1))) func benchServeRefusesAnUnknownProbeVersionAndKeepsServing() async throws {
        let server = try HandoffProcess(["bench", "serve", "--listen", "127.0.0.1:0"], captureErrors: true)
        let listening = try await server.readLine()
        let portText = try #require(listening.split(separator: ":").last)
        let port = try #require(UInt16(String(portText)))
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try socket.send(Array("PROBE 9\n".utf8), "probe")
        socket.setReceiveTimeout(.seconds(10))
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while answer.last != UInt8(ascii: "\n"), recv(socket.fd, &byte, 1, 0) == 1 { answer.append(byte) }
        socket.close()
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("ERROR "))
        #expect(String(decoding: answer, as: UTF8.self).contains("PROBE 1"))
        // Still serving: a real probe gets through.
        let (output, _) = try await probe("127.0.0.1:\(port)", [])
        server.signal(SIGTERM)
        #expect(output.peer.reachable)
    }
    @Test(.timeLimit(.minutes(1))) func benchServeAnswersAProbeWhileAnotherClientStaysSilent() async throws {
        let server = try HandoffProcess(["bench", "serve", "--listen", "127.0.0.1:0"], captureErrors: true)
        let listening = try await server.readLine()
        let address = String(try #require(listening.split(separator: " ").last))
        let portText = try #require(address.split(separator: ":").last)
        let port = try #require(UInt16(String(portText)))
        let silent = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        let started = ContinuousClock.now
        let (output, _) = try await probe(address, ["--probe-mib", "0"])
        // One session at a time would have waited out the silent client's 10 s hello timeout first.
        #expect(output.peer.reachable)
        #expect(ContinuousClock.now - started < .seconds(8))
        silent.close()
        server.signal(SIGTERM)
    }

    @Test(.timeLimit(.minutes(1))) func aPeersEscapeSequencesNeverReachTheTerminal() async throws {
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let hostile = Thread {
            guard let client = try? listener.accept() else { return }
            _ = try? client.receive(DataPlaneProbe.greeting.count, "greeting")
            try? client.send(Array("ERROR \u{1B}[2J\u{1B}]0;pwned\u{07}\r\u{202E}gnp.exe\n".utf8), "refusal")
            client.close()
        }
        hostile.start()
        let process = try HandoffProcess(["topo", "--peer", "127.0.0.1:\(port)"], captureErrors: true)
        let (output, _) = try await process.finish()
        let everything = output + process.errorOutput()
        #expect(everything.contains("pwned"))  // the peer's words are shown...
        #expect(!everything.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\u{202E}" })
        listener.shutdown()
        listener.close()
    }
}
