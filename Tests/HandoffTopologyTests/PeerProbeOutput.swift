import Foundation
import HandoffCore
import HandoffTestSupport
import Testing

/// The parts of `handoff topo --peer … --json` that the probe tests check.
// swift-format-ignore: AlwaysUseLowerCamelCase
// Fields named as the JSON keys of `handoff topo --peer --json`.
struct PeerProbeOutput: Decodable {
    struct Peer: Decodable {
        struct RoundTrips: Decodable {
            var count: Int
            var min: Double
            var median: Double
        }
        struct Worker: Decodable {
            var id: String
            var role: String
            var model: String
            var transport: String
            var offers: [String]
        }
        struct Probe: Decodable {
            var kind: String
            var transport: String
            var ucx_transports: [String]
            var bytes: Int
            var gbps: Double
            var verified: Bool
        }
        var reachable: Bool
        var refused: Bool
        var error: String?
        var worker: Worker?
        var rtt_us: RoundTrips?
        var local_interface: String?
        var remote_interface: String?
        var probe: Probe?
        var probe_error: String?
    }
    struct Finding: Decodable {
        var severity: String
        var code: String
        var message: String
        var subject: String?
    }
    var peer: Peer
    var findings: [Finding]

    /// The output of a finished `handoff topo --peer … --json` process, and its exit status.
    static func of(_ process: HandoffProcess) async throws -> (PeerProbeOutput, Int32) {
        let (output, status) = try await process.finish()
        do {
            return (try JSONDecoder().decode(PeerProbeOutput.self, from: Data(output.utf8)), status)
        } catch {
            Issue.record("not the expected JSON (\(error)): \(output)\nstderr: \(process.errorOutput())")
            throw error
        }
    }
}
