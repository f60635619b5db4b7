import ArgumentParser
import HandoffCore

/// `handoff bench run --peer HOST:PORT`: the initiating side of a benchmark against a `handoff bench serve`.
struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure KV transfers against a 'handoff bench serve' on another host (or network namespace).",
        discussion:
            "The serving side takes this side's workload options, so both always agree on them. A sweep opens one connection per point, so the serve side must run without --once."
    )

    @Option(help: "HOST:PORT of the 'handoff bench serve' to measure against.")
    var peer: HostPort

    @OptionGroup var sweep: BenchSweepOptions

    func run() async throws {
        try await BenchSweep(points: try sweep.points(), format: sweep.format).run { try await $0.runRemote(peer) }
    }
}
