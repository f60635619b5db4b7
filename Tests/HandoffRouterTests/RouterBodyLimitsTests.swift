import Foundation
import Glibc
import HandoffClient
import HandoffRouter
import HandoffTestSupport
import Prometheus
import Testing

/// What a client sending its body slowly, or a large one, can take from `handoff router`: a real router in front of
/// a real coordinator (with no engines, so that an admitted-for-pairing request ends with the coordinator's 503).
@Suite(.serialized) struct RouterBodyLimitsTests {
    static let request = #"{"model": "tiny", "prompt": [1, 2, 3], "max_tokens": 4}"#

    /// Four connections trickling their bodies fill no slot of two: a whole request is still served, and each
    /// trickler gets 408 once its body's time is up.
    @Test func clientsTricklingTheirBodiesHoldNoSlotAndGet408() async throws {
        try await withRouter(maxConcurrentRequests: 2, bodyTimeout: .seconds(1)) { port in
            let tricklers = try (0..<4).map { _ in try LoopbackConnection(port: port) }
            for trickler in tricklers {
                trickler.send(Self.head(contentLength: Self.request.utf8.count))
                trickler.send("{")
            }
            let trickle = Self.trickle(tricklers.map(\.descriptor), byte: " ", every: .milliseconds(200))
            defer { trickle.cancel() }
            let answer = try await Self.exchange(
                port: port, Self.head(contentLength: Self.request.utf8.count) + Self.request)
            // Served: refused by the coordinator (no engines), not by the router for want of a slot.
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
            #expect(!answer.contains("is handling"), "a trickler held a slot: \(answer)")
            for trickler in tricklers {
                let refused = try await runOnOwnThread { trickler.received(within: .seconds(10)) }
                #expect(refused.hasPrefix("HTTP/1.1 408"), "\(refused)")
            }
        }
    }

    @Test func aBodyLargerThanTheLongestPromptIsRefusedUnread() async throws {
        try await withRouter(maxPromptTokens: 1024) { port in
            // 1,024 tokens take at most 8 KiB + 64 KiB: 1 MiB is refused on its headers.
            let answer = try await Self.exchange(port: port, Self.head(contentLength: 1 << 20))
            #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
        }
    }

    /// One body reserves its declared size; another that does not fit beside it is refused without being read.
    @Test func bodiesBeyondTheSharedBudgetAreRefusedUntilItFrees() async throws {
        try await withRouter(bodyTimeout: .seconds(4), maxBufferedBodyBytes: 1000) { port in
            let holder = try LoopbackConnection(port: port)
            holder.send(Self.head(contentLength: 800) + "{")
            // Once the router has read the holder's headers (on a loaded machine, not at once).
            var refused = ""
            let deadline = ContinuousClock.now + .seconds(3)
            while !refused.contains("bytes of request bodies") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                refused = try await Self.exchange(port: port, Self.head(contentLength: 300) + "x")
            }
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("bytes of request bodies"), "\(refused)")
            // The holder times out and gives its bytes back: the same request is then read (and found malformed).
            _ = try await runOnOwnThread { holder.received(within: .seconds(10)) }
            let read = try await Self.exchange(
                port: port, Self.head(contentLength: Self.request.utf8.count) + Self.request)
            #expect(read.hasPrefix("HTTP/1.1 503") && !read.contains("bytes of request bodies"), "\(read)")
        }
    }

    static func head(contentLength: Int) -> String {
        "POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(contentLength)\r\n\r\n"
    }

    /// Sends `text` on a new connection and returns the answer's first bytes.
    static func exchange(port: Int, _ text: String) async throws -> String {
        let connection = try LoopbackConnection(port: port)
        connection.send(text)
        return try await runOnOwnThread { connection.received(within: .seconds(15)) }
    }

    static func trickle(_ descriptors: [Int32], byte: Character, every pause: Duration) -> Task<Void, any Error> {
        Task {
            let value = byte.asciiValue ?? 32
            while !Task.isCancelled {
                for descriptor in descriptors {
                    var one = value
                    _ = Glibc.send(descriptor, &one, 1, Int32(MSG_NOSIGNAL))
                }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// Runs a router (port 0) with these limits in front of a fresh coordinator for `body`.
    func withRouter(
        maxConcurrentRequests: Int = 1024, bodyTimeout: Duration = .seconds(30), maxPromptTokens: Int = 131_072,
        maxBufferedBodyBytes: Int = 256 << 20, _ body: (Int) async throws -> Void
    ) async throws {
        try await withCoordinatorServer { address, _ in
            var configuration = RouterConfiguration(host: "127.0.0.1", port: 0, coordinator: address)
            configuration.maxConcurrentRequests = maxConcurrentRequests
            configuration.bodyTimeout = bodyTimeout
            configuration.maxPromptTokens = maxPromptTokens
            configuration.maxBufferedBodyBytes = maxBufferedBodyBytes
            let registry = PrometheusCollectorRegistry()
            let ports = AsyncStream.makeStream(of: Int.self)
            let server = RouterServer(
                configuration: configuration, registry: registry,
                metricsFactory: PrometheusMetricsFactory(registry: registry)
            ) { port in
                ports.continuation.yield(port)
                ports.continuation.finish()
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                var port = 0
                for await bound in ports.stream { port = bound }
                try await body(port)
                group.cancelAll()
            }
        }
    }
}
