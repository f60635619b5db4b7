import AsyncHTTPClient
import Foundation
import NIOCore

/// Reads samples from a Prometheus text endpoint (a coordinator's `/metrics`).
enum MetricsScrape {
    /// Every sample line of `http://127.0.0.1:PORT/metrics`, by series name with its labels.
    static func samples(port: Int) async throws -> [String: Double] {
        let response = try await HTTPClient.shared.get(
            url: "http://127.0.0.1:\(port)/metrics", deadline: .now() + .seconds(5)
        ).get()
        guard response.status == .ok, let body = response.body else {
            throw BenchError.peerFailed("/metrics on port \(port) answered \(response.status)")
        }
        var samples: [String: Double] = [:]
        for line in String(buffer: body).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
