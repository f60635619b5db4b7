import Foundation
import HandoffCore
import HandoffTestSupport
import Testing

/// `handoff bench` sweeps, run as the real command between two processes.
@Suite("handoff bench sweeps", .serialized)
struct BenchSweepTests {
    /// The fields of a sweep point these tests check.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    // Fields named as the JSON keys of `handoff bench --json`.
    struct Point: Decodable {
        let transport: String
        let op: String
        let pattern: String
        let layers: Int
        let blocks: Int
        let block_bytes: Int
        let bytes: Int
        let ops: Int
        let pieces: Int
        let transfers: Int
        let window: Int
        let tcp_streams: Int?
        let verified: Bool
        let gbps: Double
        let ops_per_s: Double
        let latency_us: [String: Double]
    }

    @Test("a sweep runs every combination of block size, op and pattern, each verified, and prints a JSON array")
    func blockSizeOpAndPatternSweep() async throws {
        let (output, status) = try await HandoffProcess([
            "bench", "--local", "--layers", "2", "--blocks", "8", "--block-kib", "4..16", "--op", "read,write",
            "--pattern", "contiguous,layerwise", "--window", "4", "--iterations", "1", "--json",
        ]).finish()
        #expect(status == 0)
        let points = try JSONDecoder().decode([Point].self, from: Data(output.utf8))
        #expect(points.count == 3 * 2 * 2)
        for op in ["read", "write"] {
            for pattern in ["contiguous", "layerwise"] {
                let sizes = points.filter { $0.op == op && $0.pattern == pattern }.map(\.block_bytes)
                #expect(sizes == [4096, 8192, 16384], "\(op) \(pattern)")
            }
        }
        for point in points {
            #expect(point.verified && point.window == 4 && point.transport == "ucx")
            #expect(point.bytes == 2 * 2 * 8 * point.block_bytes && point.pieces == 2 * 2 * 8)
            // Contiguous: each layer's K and V runs merge into one op. Layerwise: one transfer per layer.
            #expect(
                point.pattern == "contiguous"
                    ? (point.transfers == 1 && point.ops == 2) : (point.transfers == 2 && point.ops > 2))
            #expect(point.gbps > 0 && point.ops_per_s > 0)
            #expect(point.latency_us.keys.contains("p999") && point.latency_us["p50"]! <= point.latency_us["p999"]!)
        }
    }

    @Test("--total-mib sizes each point's block count to move the same bytes")
    func totalMiBSizesBlockCounts() async throws {
        let (output, status) = try await HandoffProcess([
            "bench", "--local", "--layers", "1", "--block-kib", "64..256", "--total-mib", "1", "--iterations", "1",
            "--json",
        ]).finish()
        #expect(status == 0)
        let points = try JSONDecoder().decode([Point].self, from: Data(output.utf8))
        #expect(points.map(\.blocks) == [8, 4, 2])
        #expect(points.allSatisfy { $0.bytes == 1 << 20 && $0.verified })
    }

    @Test(
        "a sweep against 'bench serve' opens one connection per point: transports and TCP streams, as CSV",
        .timeLimit(.minutes(1)))
    func remoteTransportSweepAsCSV() async throws {
        let server = try HandoffProcess(["bench", "serve", "--listen", "127.0.0.1:0"])
        let listening = try await server.readLine()
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0) })
        let (output, status) = try await HandoffProcess([
            "bench", "run", "--peer", "127.0.0.1:\(port)", "--transport", "tcp,ucx", "--tcp-streams", "1,2", "--layers",
            "2",
            "--blocks", "16", "--block-kib", "8", "--op", "write", "--iterations", "1", "--csv",
        ]).finish()
        server.signal(SIGKILL)
        _ = try await server.finish()
        #expect(status == 0)
        let lines = output.split(separator: "\n").map(String.init)
        let header = try #require(lines.first).split(separator: ",").map(String.init)
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // TCP streams only vary the native TCP points: tcp×1, tcp×2, ucx.
        #expect(rows.count == 3)
        func column(_ name: String) throws -> [String] {
            let index = try #require(header.firstIndex(of: name), "no column \(name)")
            return rows.map { $0[index] }
        }
        #expect(try column("transport") == ["tcp", "tcp", "ucx"])
        #expect(try column("tcp_streams") == ["1", "2", ""])
        #expect(try column("verified") == ["true", "true", "true"])
        #expect(try column("bytes") == Array(repeating: "\(2 * 2 * 16 * 8192)", count: 3))
    }

    @Test("a point that cannot run is reported, the sweep goes on, and the command fails at the end")
    func failedPointFailsTheSweep() async throws {
        let sweep = try HandoffProcess(
            [
                "bench", "--local", "--layers", "2", "--blocks", "16000000,4", "--block-kib", "64", "--iterations", "1",
                "--json",
            ],
            captureErrors: true)
        let (output, status) = try await sweep.finish()
        #expect(status != 0)
        let points = try JSONDecoder().decode([Point].self, from: Data(output.utf8))
        #expect(points.map(\.blocks) == [4] && points[0].verified)
        #expect(
            sweep.errorOutput().contains(
                "point 1 (ucx read scattered 2 layers × 16000000 blocks × 64 KiB, window 128): a pool of"))
        #expect(sweep.errorOutput().contains("1 of 2 points failed"))
    }

    @Test(
        "sizes that would overflow are refused with the limit, before anything runs",
        arguments: [
            ["--block-kib", "9223372036854775"], ["--layers", "1,5000"], ["--total-mib", "99999999999"],
            ["--timeout", "inf"],
        ])
    func oversizedOptionsAreRefused(option: [String]) async throws {
        let bench = try HandoffProcess(["bench", "--local", "--iterations", "1"] + option, captureErrors: true)
        let (output, status) = try await bench.finish()
        #expect(status != 0 && output.isEmpty)
        #expect(
            bench.errorOutput().contains("must be") || bench.errorOutput().contains("between"), "\(bench.errorOutput())"
        )
    }
}
