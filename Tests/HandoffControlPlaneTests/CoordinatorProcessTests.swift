import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffProto
import HandoffTestSupport
import Testing

@Suite struct CoordinatorProcessTests {
    @Test(.timeLimit(.minutes(1))) func onSIGTERMTheCoordinatorEndsOpenRouteStreamsAndExitsZero() async throws {
        let token = BearerToken.random()
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "handoff-token-\(UInt64.random(in: 1...UInt64.max))")
        try Data(token.value.utf8).write(to: tokenFile)
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let coordinator = try HandoffProcess([
            "coordinator", "--listen", "127.0.0.1:0", "--no-metrics", "--token-file", tokenFile.path,
            "--shutdown-grace-seconds", "1", "--log-level", "warning",
        ])
        let line = try await coordinator.readLine()
        let port = try #require(
            line.split(separator: " ").first { $0.hasPrefix("grpc=") }.flatMap { Int($0.dropFirst(5)) }, "\(line)")

        let admits = BatchingOutbox<Handoff_V1_RouteRequest>()
        let request = StreamingClientRequest(of: Handoff_V1_RouteRequest.self) { writer in
            while let batch = await admits.nextBatch() { try await writer.write(contentsOf: batch) }
        }
        let started = ContinuousClock.now
        let pid = coordinator.process.processIdentifier
        try await withCoordinatorClient(CoordinatorAddress(host: "127.0.0.1", port: port, token: token)) { client in
            try await client.route(request: request) { response in
                var events = response.messages.makeAsyncIterator()
                admits.send(
                    .with {
                        $0.admit = .with {
                            $0.requestID = "r1"
                            $0.model = "tiny"
                            $0.promptTokens = 16
                        }
                    })
                let refused = try #require(try await events.next())
                #expect(refused.refused.code == Int32(RPCError.Code.resourceExhausted.rawValue))
                kill(pid, SIGTERM)
                // The router never half-closes: the coordinator must end the stream itself.
                #expect(try await events.next() == nil)
            }
        }
        admits.finish()
        let (_, status) = try await coordinator.finish()
        #expect(status == 0)
        #expect(ContinuousClock.now - started < .seconds(15))
    }
    @Test(.timeLimit(.minutes(2))) func aClusterOnMutualTLSServesRequestsAndRefusesClientsWithoutCertificates()
        async throws
    {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tokenFile = certificates.directory + "/token"
        try Data(BearerToken.random().value.utf8).write(to: URL(fileURLWithPath: tokenFile))
        let coordinator = try HandoffProcess([
            "coordinator", "--listen", "127.0.0.1:0", "--no-metrics", "--token-file", tokenFile, "--log-level",
            "warning", "--tls-cert", certificates.serverCertificate, "--tls-key", certificates.serverKey, "--tls-ca",
            certificates.caCertificate,
        ])
        let line = try await coordinator.readLine()
        let port = try #require(
            line.split(separator: " ").first { $0.hasPrefix("grpc=") }.map { $0.dropFirst(5) }, "\(line)")
        let clientTLS = [
            "--tls-cert", certificates.clientCertificate, "--tls-key", certificates.clientKey, "--tls-ca",
            certificates.caCertificate,
        ]
        let workers = try ["prefill", "decode"].map { role in
            try HandoffProcess(
                [
                    "worker", "--id", role, "--role", role, "--model", "llama-3.1-8b", "--coordinator",
                    "127.0.0.1:\(port)", "--token-file", tokenFile, "--blocks", "16", "--transport", "tcp",
                    "--tcp-listen", "127.0.0.1", "--log-level", "error",
                ] + clientTLS)
        }
        func request(_ tls: [String]) async throws -> (String, Int32) {
            let process = try HandoffProcess(
                [
                    "request", "--coordinator", "127.0.0.1:\(port)", "--token-file", tokenFile, "--model",
                    "llama-3.1-8b", "--prompt-tokens", "64", "--count", "3",
                ] + tls, captureErrors: true)
            return try await process.finish()
        }
        // The workers register over mutual TLS; until both have, requests are refused.
        let deadline = ContinuousClock.now + .seconds(60)
        var (output, status) = try await request(clientTLS)
        while status != 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
            (output, status) = try await request(clientTLS)
        }
        #expect(status == 0, "\(output)")
        let accounts = output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(accounts.count == 3)
        #expect(accounts.allSatisfy { $0["state"] as? String == "done" && $0["verified"] as? Bool == true })

        // The workers' data plane speaks mutual TLS too: a plaintext hello to the prefill worker's port is refused.
        let survey = try await HandoffProcess(
            ["topo", "--json", "--coordinator", "127.0.0.1:\(port)", "--token-file", tokenFile] + clientTLS
        ).finish()
        let endpoint = try #require(Self.tcpEndpoint(of: "prefill", in: survey.output), "\(survey.output)")
        let refusal = try await Self.answerToPlaintextHello(endpoint)
        #expect(refusal.contains("requires mutual TLS"), "\(refusal)")

        let (_, plaintextStatus) = try await request([])
        #expect(plaintextStatus != 0)
        let (_, noCertificateStatus) = try await request(["--tls-ca", certificates.caCertificate])
        #expect(noCertificateStatus != 0)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { _ = try await worker.finish() }
        coordinator.signal(SIGTERM)
        _ = try await coordinator.finish()
    }

    /// The native TCP endpoint (host:port) worker `id` offers, from `handoff topo --json`'s output.
    private static func tcpEndpoint(of id: String, in output: String) -> String? {
        let json = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let worker = (json?["workers"] as? [[String: Any]])?.first { $0["id"] as? String == id }
        let offers = worker?["offers"] as? [[String: Any]] ?? []
        return offers.flatMap { $0["endpoints"] as? [String] ?? [] }.first
    }

    /// What a data-plane port answers a plaintext hello (64 zero bytes) with, read until it closes.
    private static func answerToPlaintextHello(_ endpoint: String) async throws -> String {
        let parts = endpoint.split(separator: ":")
        let socket = try TCPSocket.connect(host: String(parts[0]), port: UInt16(parts[1])!, timeout: .seconds(5))
        defer { socket.close() }
        try socket.send([UInt8](repeating: 0, count: 64), "hello")
        return try await runOnOwnThread {
            socket.setReceiveTimeout(.seconds(10))
            var answer: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                answer += buffer.prefix(count)
            }
            return String(decoding: answer.filter { $0 >= 0x20 && $0 < 0x7F }, as: UTF8.self)
        }
    }
}
