import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// The serving side of `handoff topo --peer` inside `handoff bench serve` (`DataPlaneProbe`, without STREAM):
/// answers the probe greeting with this node's topology and findings as one `TOPOLOGY <json>` line, then each
/// `PING <n>` with `PONG <n>`, until `QUIT`. The bandwidth probe that follows is an ordinary benchmark
/// connection.
struct PeerProbeServer {
    func serve(_ greeting: String, over channel: LineChannel) async throws {
        let version = greeting.trimmingCharacters(in: .whitespaces)
        guard version == DataPlaneProbe.greetingText else {
            throw BenchError.invalidOption(
                "the prober says \"\(version.prefix(40))\", this server speaks \(DataPlaneProbe.greetingText); run the same handoff version on both hosts"
            )
        }
        guard let answer = ProbeAnswer(lifetime: .zero).text() else {
            throw BenchError.invalidOption("this node could not be described")
        }
        try channel.send("TOPOLOGY " + answer)
        for _ in 0..<DataPlaneProbe.maxPings {
            let line = try await channel.receive()
            if line == "QUIT" { return }
            guard line.hasPrefix("PING "), line.utf8.count <= DataPlaneProbe.maxLineBytes else {
                throw BenchError.protocolViolation(expected: "PING or QUIT", got: String(line.prefix(200)))
            }
            try channel.send("PONG " + line.dropFirst("PING ".count))
        }
        throw BenchError.invalidOption("more than \(DataPlaneProbe.maxPings) round trips in one probe")
    }
}
