import Glibc
import HandoffControlPlane
import HandoffTestSupport
import Prometheus
import Testing

/// The `/metrics` port takes no token: whoever reaches it must not be able to hold its connections (and the
/// coordinator's file descriptors) by connecting and saying nothing.
@Suite struct MetricsEndpointTests {
    @Test func atTheCapNewConnectionsTakeThePlaceOfTheOldestWithoutARequestWhileScrapesAreServed() async throws {
        try await withEndpoint(requestTimeout: .seconds(60), maxConnections: 4) { port in
            var silent: [LoopbackConnection] = []
            for _ in 0..<6 {
                silent.append(try LoopbackConnection(port: port))
                try await Task.sleep(for: .milliseconds(100))  // one after the other, so that "oldest" is clear
            }
            // Four are served (and wait for a request); the two beyond the cap make the two oldest go.
            #expect(await closed(silent, count: 2, within: .seconds(20)) == 2)
            let closedOnes = silent.indices.filter { silent[$0].closedByPeer(within: .zero) }
            #expect(closedOnes == [0, 1], "not the oldest were closed")
            #expect(silent.filter { $0.closedByPeer(within: .milliseconds(200)) }.count == 2)
            silent.removeAll()  // the client closes them: the slots come free
            #expect(await scrapeAnswered(port: port, within: .seconds(20)))
        }
    }

    @Test func silentConnectionsAreClosedAfterTheRequestTimeout() async throws {
        try await withEndpoint(requestTimeout: .seconds(3), maxConnections: 64) { port in
            let silent = try (0..<3).map { _ in try LoopbackConnection(port: port) }
            // Not at once: only after 3 s without a byte.
            #expect(silent.allSatisfy { !$0.closedByPeer(within: .zero) })
            #expect(await closed(silent, count: 3, within: .seconds(20)) == 3)
            #expect(await scrapeAnswered(port: port, within: .seconds(20)))
        }
    }

    /// Connections that send a header byte every 300 ms (a byte now and then, never a whole request) filling the
    /// cap: each is closed when its request's time is up, and a scrape is served meanwhile.
    @Test func tricklingHeadersNeitherKeepAConnectionNorHoldTheCap() async throws {
        try await withEndpoint(requestTimeout: .seconds(2), maxConnections: 4) { port in
            let tricklers = try (0..<4).map { _ in try LoopbackConnection(port: port) }
            let descriptors = tricklers.map(\.descriptor)
            let trickle = Task {
                for byte in Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8) + Array(repeating: UInt8(97), count: 100) {
                    for descriptor in descriptors {
                        var one = byte
                        _ = send(descriptor, &one, 1, Int32(MSG_NOSIGNAL))
                    }
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            defer { trickle.cancel() }
            #expect(await scrapeAnswered(port: port, within: .seconds(5)), "a scrape waited for the tricklers")
            let started = ContinuousClock.now
            #expect(await closed(tricklers, count: 4, within: .seconds(15)) == 4)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    private func withEndpoint(
        requestTimeout: Duration, maxConnections: Int, _ body: (Int) async throws -> Void
    ) async throws {
        var configured = MetricsEndpoint(registry: PrometheusCollectorRegistry(), host: "127.0.0.1", port: 0)
        configured.requestTimeout = requestTimeout
        configured.maxConnections = maxConnections
        let endpoint = configured
        let ports = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await endpoint.run {
                    ports.continuation.yield($0)
                    ports.continuation.finish()
                }
            }
            var port = 0
            for await bound in ports.stream { port = bound }
            try await body(port)
            group.cancelAll()
        }
    }

    /// How many of `connections` the server has closed, waiting (up to `within`) until `count` are.
    private func closed(_ connections: [LoopbackConnection], count: Int, within wait: Duration) async -> Int {
        let deadline = ContinuousClock.now + wait
        var closed = 0
        repeat {
            closed = connections.filter { $0.closedByPeer(within: .zero) }.count
            if closed >= count { break }
            try? await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < deadline
        return closed
    }

    /// Whether a `GET /healthz` is answered 200 within `wait` (retried while the server still refuses).
    private func scrapeAnswered(port: Int, within wait: Duration) async -> Bool {
        let deadline = ContinuousClock.now + wait
        repeat {
            // The wait for the answer blocks: on a thread of its own, not one the server's tasks need.
            let answered = try? await runOnOwnThread { () -> Bool in
                guard let scrape = try? LoopbackConnection(port: port) else { return false }
                scrape.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                return scrape.received(within: .seconds(2)).hasPrefix("HTTP/1.1 200")
            }
            if answered == true { return true }
            try? await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return false
    }
}
