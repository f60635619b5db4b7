import Foundation
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Percentiles and totals over the accounts of a demo run.
struct DemoStatistics {
    static let components = ["ttft", "queue", "prefill", "kv_transfer", "first_decode", "coordination"]

    let succeeded: [Handoff_V1_RequestAccount]
    let failed: [(id: String, reason: String)]

    /// Nearest-rank percentiles of a component, in milliseconds.
    func percentiles(_ component: String) -> (p50: Double, p90: Double, p99: Double) {
        let p = Percentiles(sorted: succeeded.map { Self.value(component, of: $0.components) * 1000 }.sorted())
        return (p.p50, p.p90, p.p99)
    }

    static func value(_ component: String, of parts: Handoff_V1_TTFTComponents) -> Double {
        switch component {
        case "ttft": parts.ttft
        case "queue": parts.queue
        case "prefill": parts.prefill
        case "kv_transfer": parts.kvTransfer
        case "first_decode": parts.firstDecode
        default: parts.coordination
        }
    }

    var kvBytes: UInt64 { succeeded.reduce(0) { $0 + $1.kvBytes } }
    var kvSeconds: Double { succeeded.reduce(0) { $0 + $1.components.kvTransfer } }
    var ttftSeconds: Double { succeeded.reduce(0) { $0 + $1.components.ttft } }
    /// Share of all TTFT spent moving KV.
    var kvShare: Double { ttftSeconds > 0 ? kvSeconds / ttftSeconds : 0 }
    var gbps: Double { kvSeconds > 0 ? Double(kvBytes) / kvSeconds / 1e9 : 0 }

    var transports: [String: Int] {
        succeeded.reduce(into: [:]) { $0[$1.transport, default: 0] += 1 }
    }

    /// Transfers that fell back from UCX to native TCP, by reason.
    var fallbacks: [String: Int] {
        succeeded.filter { !$0.fallback.isEmpty }.reduce(into: [:]) { $0[$1.fallback, default: 0] += 1 }
    }

    var lowerTransports: [String: Int] {
        succeeded.reduce(into: [:]) { counts, account in
            counts[account.lowerTransports.sorted().joined(separator: "+"), default: 0] += 1
        }
    }

    func table() -> String {
        var lines: [String] = []
        lines.append("component       p50 ms    p90 ms    p99 ms")
        for component in Self.components {
            let p = percentiles(component)
            lines.append(
                component.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(format: "%8.2f  %8.2f  %8.2f", p.p50, p.p90, p.p99))
        }
        lines.append(String(format: "KV transfer share of TTFT: %.1f%%", kvShare * 100))
        let mib = Double(kvBytes) / 1_048_576
        let descriptors = succeeded.reduce(0) { $0 + Int($1.kvDescriptors) }
        let ops = succeeded.reduce(0) { $0 + Int($1.kvOps) }
        lines.append(
            String(
                format:
                    "KV moved: %.1f MiB in %d transfers, %.2f GB/s while transferring; %d descriptors merged into %d ops",
                mib, succeeded.count, gbps, descriptors, ops))
        lines.append(
            "transports: "
                + transports.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + " (lanes: "
                + lowerTransports.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + ")")
        if !fallbacks.isEmpty {
            lines.append(
                "fallbacks to native TCP: "
                    + fallbacks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    func json(requests: Int, extra: [String: Any]) -> String {
        var object: [String: Any] = ["requests": requests, "succeeded": succeeded.count, "failed": failed.count]
        for component in Self.components {
            let p = percentiles(component)
            object[component] = ["p50": p.p50, "p90": p.p90, "p99": p.p99]
        }
        object["kv_bytes"] = kvBytes
        object["kv_share"] = kvShare
        object["kv_gbps"] = gbps
        object["transports"] = transports
        object["fallbacks"] = fallbacks
        object["failures"] = failed.map { ["request": $0.id, "reason": $0.reason] }
        object.merge(extra) { _, new in new }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
