import Foundation

/// A benchmark point as a row: of the sweep table on the terminal, and of `--csv`.
extension BenchResult {
    static let tableHeader = [
        pad("transport", 20, left: true), pad("op", 5, left: true), pad("pattern", 10, left: true), pad("layers", 6),
        pad("blocks", 7),
        pad("block", 8), pad("window", 6), pad("streams", 7), pad("GB/s", 8), pad("ops/s", 10), pad("p50 µs", 9),
        pad("p99 µs", 9),
        pad("p99.9 µs", 9), pad("×memcpy", 7),
    ].joined(separator: " ")

    /// The point under `tableHeader`.
    var tableRow: String {
        let lanes = ucxTransports.isEmpty ? "" : "[" + ucxTransports.joined(separator: ",") + "]"
        return [
            Self.pad(transport + lanes, 20, left: true), Self.pad(op.rawValue, 5, left: true),
            Self.pad(pattern, 10, left: true),
            Self.pad("\(layers)", 6), Self.pad("\(blocks)", 7), Self.pad(Self.size(blockBytes), 8),
            Self.pad("\(window)", 6),
            Self.pad(tcpStreams.map { "\($0)" } ?? "-", 7), Self.pad(Self.fixed(gbps, 2), 8),
            Self.pad(Self.fixed(opsPerS, 0), 10),
            Self.pad(Self.fixed(latencyUs.p50, 1), 9), Self.pad(Self.fixed(latencyUs.p99, 1), 9),
            Self.pad(Self.fixed(latencyUs.p999, 1), 9),
            Self.pad(Self.fixed(ratio, 2), 7),
        ].joined(separator: " ")
    }

    static let csvHeader = [
        "transport", "ucx_transports", "ucx_transports_requested", "memory", "op", "pattern", "layers", "blocks",
        "block_bytes",
        "bytes", "ops", "pieces", "transfers", "window", "tcp_streams", "warmup", "iterations", "seconds", "gbps",
        "ops_per_s",
        "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "memcpy_gbps", "ratio", "verified",
    ].joined(separator: ",")

    /// The point under `csvHeader`; UCX's lanes are joined with `+`.
    var csvRow: String {
        let fields: [String] = [
            transport, ucxTransports.joined(separator: "+"), ucxTransportsRequested, memory, op.rawValue, pattern,
            "\(layers)",
            "\(blocks)", "\(blockBytes)", "\(bytes)", "\(ops)", "\(pieces)", "\(transfers)", "\(window)",
            tcpStreams.map { "\($0)" } ?? "", "\(warmup)", "\(iterations)", "\(seconds)", "\(gbps)", "\(opsPerS)",
            "\(latencyUs.p50)", "\(latencyUs.p90)", "\(latencyUs.p99)", "\(latencyUs.p999)", "\(latencyUs.max)",
            "\(memcpyGbps)", "\(ratio)", "\(verified)",
        ]
        return fields.map(Self.csvField).joined(separator: ",")
    }

    /// A byte count as `4 KiB`, `1 MiB`, `1.5 MiB`.
    static func size(_ bytes: Int) -> String {
        for (unit, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= scale {
            return bytes % scale == 0
                ? "\(bytes / scale) \(unit)" : "\(fixed(Double(bytes) / Double(scale), 1)) \(unit)"
        }
        return "\(bytes) B"
    }

    private static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break.
    private static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
