import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// One benchmark point: what `handoff bench --json` prints.
struct BenchResult: Codable {
    var transport: String
    /// The UCX transports the connection's lanes use (what UCX actually chose), e.g. `["posix", "cma"]`.
    var ucxTransports: [String]
    /// The transports asked for with `--ucx-transports`, or `default`.
    var ucxTransportsRequested: String
    /// Who allocated the pools: `ucx` or `engine`.
    var memory: String
    var op: TransferOperation
    var pattern: String
    var layers: Int
    var blocks: Int
    var blockBytes: Int
    /// Bytes one iteration moves (all its `transfers`).
    var bytes: Int
    /// Ops one iteration posts (all its `transfers`), after merging.
    var ops: Int
    /// Block pieces of one iteration before merging (what a per-block data plane would post).
    var pieces: Int
    /// Transfers one iteration takes, one after another: 1, or the layer count for `layerwise`.
    var transfers: Int
    /// Most ops in flight at once (`--window`).
    var window: Int
    /// Untimed transfers before the timed ones.
    var warmup: Int
    var iterations: Int
    /// Median seconds per iteration, from the first call to the last completion (summed over its `transfers`).
    var seconds: Double
    /// Median microseconds from the call until every op was in flight (summed over an iteration's `transfers`).
    var postUs: Double
    /// Per-op latency percentiles over every op of every timed iteration, in microseconds.
    var opLatencyUs: LatencySummary
    /// The same percentiles under the name sweeps use (p50, p99, p999 among them).
    var latencyUs: LatencySummary
    /// Ops per second over the median transfer.
    var opsPerS: Double
    /// bytes / seconds, in GB/s (1e9 bytes per second).
    var gbps: Double
    /// memcpy of the same byte count in this process, in GB/s.
    var memcpyGbps: Double
    /// gbps / memcpyGbps.
    var ratio: Double
    /// True only when every iteration's destination was checked byte for byte and matched.
    var verified: Bool
    /// The peer received the initiator's closing notification.
    var notified: Bool
    /// Connections a native TCP transfer was striped over; nil for UCX.
    var tcpStreams: Int?
    /// With `--transport auto`: how often each reason made the benchmark fall back from UCX to TCP.
    var fallbacks: [String: Int]?
    /// KV mode (`--model`): the prompt's KV and what moving it adds to TTFT.
    var kv: TTFTEstimate?

    enum CodingKeys: String, CodingKey {
        case transport, op, pattern, layers, blocks, bytes, ops, pieces, iterations, seconds, gbps, ratio, verified
        case notified, memory, fallbacks, kv, transfers, window, warmup
        case ucxTransports = "ucx_transports"
        case ucxTransportsRequested = "ucx_transports_requested"
        case blockBytes = "block_bytes"
        case postUs = "post_us"
        case opLatencyUs = "op_latency_us"
        case latencyUs = "latency_us"
        case opsPerS = "ops_per_s"
        case memcpyGbps = "memcpy_gbps"
        case tcpStreams = "tcp_streams"
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A few readable lines for the terminal.
    var summary: String {
        func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
        return """
            \(op.rawValue.uppercased()) \(pattern): \(bytes / (1 << 20)) MiB as \(pieces) pieces of \(blockBytes / 1024) KiB \
            in \(ops) ops over \(transport) [\(ucxTransports.joined(separator: ","))], \(memory) memory
              transfer  \(format(seconds * 1000, 1)) ms  \(format(gbps)) GB/s   (median of \(iterations))
              memcpy              \(format(memcpyGbps)) GB/s   ratio \(format(ratio)) × memcpy
              post      \(format(postUs, 1)) µs   per-op latency p50 \(format(opLatencyUs.p50, 1)) µs  \
            p99 \(format(opLatencyUs.p99, 1)) µs
              verified  \(verified ? "yes, byte for byte" : "NO")
            """ + fallbackLine + (kv.map { "\n" + $0.summary } ?? "")
    }

    /// The fallbacks from UCX to TCP, when there were any.
    private var fallbackLine: String {
        guard let fallbacks, !fallbacks.isEmpty else { return "" }
        return "\n  fallback  "
            + fallbacks.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            + " (UCX → TCP)"
    }
}
