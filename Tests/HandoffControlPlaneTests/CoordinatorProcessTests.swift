import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
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
}
