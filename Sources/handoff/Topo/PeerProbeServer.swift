import Foundation
import HandoffTopology

/// The serving side of `handoff topo --peer`, inside `handoff bench serve`: answers `PROBE 1` with this node's
/// topology and findings as one `TOPOLOGY <json>` line, then each `PING <n>` with `PONG <n>`, until `QUIT`.
/// The bandwidth probe that follows is an ordinary benchmark connection.
struct PeerProbeServer {
    static let greeting = "PROBE 1"
    /// Round trips one probe may ask for.
    static let maxPings = 1000

    func serve(_ greeting: String, over channel: LineChannel) async throws {
        guard greeting == Self.greeting else {
            throw BenchError.invalidOption("the prober says \"\(greeting.prefix(40))\", this server speaks \(Self.greeting); run the same handoff version on both hosts")
        }
        let topology = TopologyDiscovery.live()
        let report = TopologyReport(topology: topology, findings: TopologyAnalysis().findings(for: topology))
        try channel.send("TOPOLOGY " + String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        for _ in 0..<Self.maxPings {
            let line = try await channel.receive()
            if line == "QUIT" { return }
            guard line.hasPrefix("PING "), line.count <= 32 else {
                throw BenchError.protocolViolation(expected: "PING or QUIT", got: String(line.prefix(200)))
            }
            try channel.send("PONG " + line.dropFirst("PING ".count))
        }
        throw BenchError.invalidOption("more than \(Self.maxPings) round trips in one probe")
    }
}
