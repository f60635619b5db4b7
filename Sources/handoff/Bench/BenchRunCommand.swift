import ArgumentParser

/// `handoff bench run --peer HOST:PORT`: the initiating side of a benchmark against a `handoff bench serve`.
struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure KV transfers against a 'handoff bench serve' on another host (or network namespace).",
        discussion: "The serving side takes this side's workload options, so both always agree on them.")

    @Option(help: "HOST:PORT of the 'handoff bench serve' to measure against.")
    var peer: HostPort

    @OptionGroup var workloadOptions: WorkloadOptions

    @OptionGroup var runOptions: BenchRunOptions

    func run() async throws {
        try runOptions.print(try await runOptions.initiator(workloadOptions).runRemote(peer))
    }
}
