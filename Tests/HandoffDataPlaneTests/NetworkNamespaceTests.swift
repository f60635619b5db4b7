import Foundation
import Glibc
import HandoffCore
import HandoffDataPlane
import HandoffTestSupport
import HandoffUCX
import Testing

/// `handoff bench serve` in one network namespace and `handoff bench run` in another, over a veth pair: every
/// byte crosses a real (virtual) network link between two hosts' TCP stacks. Skipped, with the reason, where
/// namespaces cannot be created.
@Suite("Native TCP between two network namespaces", .serialized)
struct NetworkNamespaceTests {
    struct BenchOutput: Decodable {
        let verified: Bool
        let transport: String
        let bytes: Int
        let gbps: Double
        let fallbacks: [String: Int]?
    }

    static let port = 7470
    static let dataPort = 7471

    static func pair(tag: String, rate: String?) async throws -> NetworkNamespacePair {
        if let reason = await NetworkNamespacePair.unavailableReason { try Test.cancel("skipped: \(reason)") }
        return try await NetworkNamespacePair.make(tag: tag, rate: rate)
    }

    /// `handoff bench serve --once` in the server namespace, once it listens.
    static func startServer(_ pair: NetworkNamespacePair) async throws -> HandoffProcess {
        let server = try pair.handoff(
            in: pair.server,
            [
                "bench", "serve", "--listen", "\(pair.serverAddress):\(port)", "--data-port", "\(dataPort)", "--once",
            ])
        try #require(try await server.readLine() == "LISTENING \(pair.serverAddress):\(port)")
        return server
    }

    static func runArguments(
        _ pair: NetworkNamespacePair, op: TransferOperation, blocks: Int, blockKiB: Int
    ) -> [String] {
        [
            "bench", "run", "--peer", "\(pair.serverAddress):\(port)", "--transport", "tcp", "--layers", "4",
            "--blocks", "\(blocks)", "--block-kib", "\(blockKiB)", "--pattern", "scattered", "--op", op.rawValue,
            "--json",
        ]
    }

    /// Waits (at most 20 s) until the server's end of the link has sent `bytes` more than `before`.
    static func waitUntil(_ pair: NetworkNamespacePair, hasSent bytes: Int, since before: Int) async throws {
        let limit = ContinuousClock.now + .seconds(20)
        while try await pair.serverTransmittedBytes() - before < bytes, ContinuousClock.now < limit {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(try await pair.serverTransmittedBytes() - before >= bytes, "the transfer never got under way")
    }

    @Test(
        "READ and WRITE are byte-exact across namespaces, on an unshaped link and on one shaped to 1 Gbit/s",
        .timeLimit(.minutes(2)), arguments: [nil, "1gbit"] as [String?])
    func byteExactAcrossNamespaces(rate: String?) async throws {
        let pair = try await Self.pair(tag: rate == nil ? "u" : "s", rate: rate)
        defer { pair.remove() }
        for op in TransferOperation.allCases {
            let server = try await Self.startServer(pair)
            let sentBefore = try await pair.serverTransmittedBytes()
            let client = try pair.handoff(
                in: pair.client, Self.runArguments(pair, op: op, blocks: 64, blockKiB: 16) + ["--iterations", "2"])
            let (output, status) = try await client.finish()
            #expect(status == 0)
            let result = try JSONDecoder().decode(BenchOutput.self, from: Data(output.utf8))
            #expect(result.verified && result.transport == "tcp")
            #expect(result.bytes == 4 * 2 * 64 * 16 << 10)
            if op == .read {
                // Three READs (warm-up and two timed) left the server through the veth link.
                #expect(try await pair.serverTransmittedBytes() - sentBefore >= 3 * result.bytes)
            }
            if rate != nil {
                #expect(result.gbps < 0.125 * 1.25)  // 1 Gbit/s is 0.125 GB/s: the bytes crossed the shaped link
            }
            #expect(try await server.finish().status == 0)
        }
    }

    @Test(
        "taking the link down mid-transfer fails the transfer by its deadline, and no result is reported",
        .timeLimit(.minutes(1)))
    func linkDownMidTransfer() async throws {
        let pair = try await Self.pair(tag: "d", rate: "1gbit")
        defer { pair.remove() }
        let server = try await Self.startServer(pair)
        let sentBefore = try await pair.serverTransmittedBytes()
        // 4 × 2 × 256 × 64 KiB = 128 MiB a READ: about a second each at 1 Gbit/s.
        let client = try pair.handoff(
            in: pair.client,
            Self.runArguments(pair, op: .read, blocks: 256, blockKiB: 64) + ["--iterations", "1", "--timeout", "4"],
            captureErrors: true)
        // Down once 16 MiB of the first READ have crossed: the transfer is under way.
        try await Self.waitUntil(pair, hasSent: 16 << 20, since: sentBefore)
        try await pair.setLink(up: false)
        let down = ContinuousClock.now

        let (output, status) = try await client.finish()
        #expect(status != 0)
        #expect(output.isEmpty)  // no result: the transfer was never reported done
        let errors = client.errorOutput()
        #expect(errors.contains("transfer timed out after 4.0 seconds"), "\(errors)")
        #expect(ContinuousClock.now - down < .seconds(4 + 6))  // its 4 s deadline, not TCP's minutes of retries
        server.signal(SIGKILL)  // its sends can never complete: the peer is unreachable
        _ = try await server.finish()
    }

    @Test(
        "a UCX connection that breaks mid-transfer falls back to native TCP, which completes it byte-exactly",
        .timeLimit(.minutes(1)))
    func brokenUCXConnectionFallsBackToTCP() async throws {
        let pair = try await Self.pair(tag: "f", rate: "1gbit")
        defer { pair.remove() }
        let server = try await Self.startServer(pair)
        let sentBefore = try await pair.serverTransmittedBytes()
        // UCX over its tcp transport (named: it is not among the default ones), so that its connections cross the
        // link beside the native TCP one. A window of 8: UCX 1.13's tcp transport asserts
        // (uct_tcp_ep_pending_purge, stubs.c:102) when it discards an endpoint that still queues requests for a
        // full socket, which a 128-op window left it doing in about 1 run of 3.
        let client = try pair.handoff(
            in: pair.client,
            Self.runArguments(pair, op: .read, blocks: 256, blockKiB: 64).map { $0 == "tcp" ? "auto" : $0 }
                + ["--ucx-transports", "tcp", "--iterations", "1", "--timeout", "30", "--window", "8"],
            captureErrors: true)
        try await Self.waitUntil(pair, hasSent: 16 << 20, since: sentBefore)
        // UCX's connections break under the client; the bench control connection and the native TCP data port
        // stay. The server never hears of it (see `cutClientOff`), so it is killed at the end.
        try await pair.cutClientOff(keepingServerPorts: [Self.port, Self.dataPort])

        let (output, status) = try await client.finish()
        server.signal(SIGKILL)
        _ = try await server.finish()
        #expect(status == 0, "\(client.errorOutput())")
        let result = try #require(
            try? JSONDecoder().decode(BenchOutput.self, from: Data(output.utf8)), "\(output)\n\(client.errorOutput())")
        #expect(result.verified)
        #expect(result.transport == "tcp")  // the timed READ ran over native TCP after the fallback
        #expect(result.fallbacks == ["ucx_transfer": 1])
        let log = client.errorOutput()
        // Logged with its reason.
        #expect(log.contains("falling back to native TCP") && log.contains("UCX transfer failed"))
    }
}
