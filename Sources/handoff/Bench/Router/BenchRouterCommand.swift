import ArgumentParser
import AsyncHTTPClient
import Foundation
import HandoffCore
import NIOCore
import Synchronization

/// `handoff bench-router`: drives streaming completions at a router (or straight at a decode engine, for the
/// engine's own time) from N concurrent clients and reports time to first byte, whole-answer time, requests per
/// second and every error by kind.
struct BenchRouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-router",
        abstract: "Drive concurrent streaming completions at a router; time to first byte, throughput, errors.")

    @Option(help: "Base URL of the router (or an engine).") var url: String
    @Option(help: "Concurrent clients, each sending its next request when its answer ends.") var concurrency = 64
    @Option(help: "Requests in all.") var requests = 512
    @Option(help: "Prompt tokens (sent as token ids).") var promptTokens = 64
    @Option(help: "max_tokens of each request.") var maxTokens = 16
    @Option(help: "Model name.") var model = "tiny"
    @Option(
        help: """
            The model's vocabulary size: each request then gets a prompt of its own, of ids below it (a real \
            engine's prefix cache does not hit). 0: one prompt of six-digit ids for every request (stand-ins).
            """)
    var vocabulary = 0
    @Option(help: "Seconds a request may take in all.") var timeoutSeconds = 120.0
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard concurrency > 0, requests > 0, promptTokens > 0, vocabulary == 0 || vocabulary > 3 else {
            throw ValidationError(
                "--concurrency, --requests and --prompt-tokens must be positive, --vocabulary 0 or over 3")
        }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(Int64(timeoutSeconds)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = Self.body(model: model, promptTokens: promptTokens, maxTokens: maxTokens)
        let (model, promptTokens, maxTokens, vocabulary) = (
            self.model, self.promptTokens, self.maxTokens, self.vocabulary
        )
        let results = Results()
        let (target, total) = (url + "/v1/completions", requests)
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while results.take(below: total) {
                        let own =
                            vocabulary > 0
                            ? Self.body(
                                model: model, promptTokens: promptTokens, maxTokens: maxTokens,
                                vocabulary: vocabulary, seed: UInt64.random(in: 0...UInt64.max)) : body
                        results.record(await Self.one(client, url: target, body: own))
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        try await client.shutdown()
        let report = results.report(elapsed: elapsed, bodyBytes: body.readableBytes)
        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for key in report.keys.sorted() { print("\(key): \(report[key] ?? "")") }
        }
    }

    /// A streaming completion request whose prompt is `promptTokens` token ids of six digits (a 220 KB body is
    /// about 31,000 of them).
    static func body(model: String, promptTokens: Int, maxTokens: Int) -> ByteBuffer {
        body(model: model, promptTokens: promptTokens, maxTokens: maxTokens) { 100_000 + $0 % 900_000 }
    }

    /// A streaming completion request whose prompt is `promptTokens` ids below `vocabulary` drawn from `seed`.
    static func body(model: String, promptTokens: Int, maxTokens: Int, vocabulary: Int, seed: UInt64) -> ByteBuffer {
        var generator = SplitMix64(seed: seed)
        return body(model: model, promptTokens: promptTokens, maxTokens: maxTokens) { _ in
            Int.random(in: 3..<vocabulary, using: &generator)
        }
    }

    /// A streaming completion request whose prompt's token at each index is `id(index)`.
    private static func body(
        model: String, promptTokens: Int, maxTokens: Int, id: (Int) -> Int
    ) -> ByteBuffer {
        var text = #"{"model":"\#(model)","stream":true,"max_tokens":\#(maxTokens),"prompt":["#
        text.reserveCapacity(promptTokens * 8 + 128)
        for index in 0..<promptTokens {
            if index > 0 { text += "," }
            text += String(id(index))
        }
        text += "]}"
        return ByteBuffer(string: text)
    }

    /// One request: its status, time to its answer's first byte and to its end, or the error.
    static func one(_ client: HTTPClient, url: String, body: ByteBuffer) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(body)
        let sent = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: .seconds(120))
            var firstByte: Duration?
            for try await _ in response.body where firstByte == nil { firstByte = ContinuousClock.now - sent }
            return Outcome(
                status: Int(response.status.code), firstByte: firstByte, total: ContinuousClock.now - sent, error: nil)
        } catch {
            return Outcome(status: 0, firstByte: nil, total: ContinuousClock.now - sent, error: "\(error)")
        }
    }

    struct Outcome: Sendable {
        var status: Int
        var firstByte: Duration?
        var total: Duration
        var error: String?
    }

    /// Every outcome, for the report.
    final class Results: Sendable {
        private let outcomes = Mutex<[Outcome]>([])
        private let taken = Atomic(0)

        /// Takes the next request's turn; false once `total` were taken.
        func take(below total: Int) -> Bool { taken.wrappingAdd(1, ordering: .relaxed).oldValue < total }

        func record(_ outcome: Outcome) { outcomes.withLock { $0.append(outcome) } }

        func report(elapsed: Double, bodyBytes: Int) -> [String: Any] {
            let all = outcomes.withLock { $0 }
            let ok = all.filter { $0.status == 200 && $0.error == nil }
            var errors: [String: Int] = [:]
            for outcome in all where outcome.status != 200 || outcome.error != nil {
                let kind =
                    outcome.error.map { String($0.prefix(80)) } ?? "HTTP \(outcome.status)"
                errors[kind, default: 0] += 1
            }
            func percentile(_ values: [Double], _ p: Double) -> Double {
                guard !values.isEmpty else { return 0 }
                let sorted = values.sorted()
                return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
            }
            let firstBytes = ok.compactMap(\.firstByte).map { $0.seconds * 1000 }
            let totals = ok.map { $0.total.seconds * 1000 }
            return [
                "requests": all.count, "ok": ok.count, "errors": errors, "seconds": elapsed,
                "requests_per_second": Double(ok.count) / max(elapsed, 1e-9), "body_bytes": bodyBytes,
                "first_byte_ms": ["p50": percentile(firstBytes, 0.5), "p99": percentile(firstBytes, 0.99)],
                "total_ms": ["p50": percentile(totals, 0.5), "p99": percentile(totals, 0.99)],
            ]
        }
    }
}
