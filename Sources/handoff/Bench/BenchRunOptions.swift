import ArgumentParser
import HandoffDataPlane

/// How the initiating side of a benchmark runs it: `handoff bench --local` and `handoff bench run` take these.
struct BenchRunOptions: ParsableArguments {
    @Option(help: "read: decode pulls (default); write: prefill pushes.")
    var op: TransferOperation = .read

    @Option(help: "Timed iterations (after one warm-up); the median is reported.")
    var iterations = 5

    @Option(help: "Most ops in flight at once.")
    var window = 128

    @Option(help: "Seconds one transfer may take before it fails.")
    var timeout: Double = 120

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    func validate() throws {
        guard iterations > 0, window > 0, timeout > 0 else {
            throw ValidationError("--iterations, --window and --timeout must be positive")
        }
    }

    func initiator(_ workload: WorkloadOptions) -> BenchInitiator {
        BenchInitiator(
            options: workload, operation: op, iterations: iterations,
            transferOptions: TransferOptions(maxOutstandingOps: window, timeout: .milliseconds(Int64(timeout * 1000))))
    }

    func print(_ result: BenchResult) throws {
        Swift.print(json ? try result.json() : result.summary)
    }
}
