import ArgumentParser
import Foundation
import HandoffDataPlane

/// `handoff bench`: measures how fast KV blocks move through the data plane.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure KV transfer bandwidth through the data plane, against memcpy in the same run.",
        discussion: """
            --local starts a second process on this host and moves a KV-shaped plan between the two pools: \
            --layers × 2 (K, V) × --blocks pieces of --block-kib KiB. Every iteration's destination is checked \
            byte for byte.
            """)

    @Flag(help: "Run both sides on this host, as two processes.")
    var local = false

    @OptionGroup var workloadOptions: WorkloadOptions

    @Option(help: "read: decode pulls (default); write: prefill pushes.")
    var op: TransferOperation = .read

    @Option(help: "Timed iterations (after one warm-up); the median is reported.")
    var iterations = 5

    @Option(help: "Most ops in flight at once.")
    var window = 128

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    func validate() throws {
        guard local else {
            throw ValidationError("only --local is available so far: both processes on this host")
        }
        guard iterations > 0, window > 0 else { throw ValidationError("--iterations and --window must be positive") }
    }

    func run() async throws {
        let benchmark = LocalBenchmark(
            options: workloadOptions, operation: op, iterations: iterations,
            transferOptions: TransferOptions(maxOutstandingOps: window, timeout: .seconds(120)))
        let result = try await benchmark.run()
        print(json ? try result.json() : result.summary)
    }
}
