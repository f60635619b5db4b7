import ArgumentParser

/// `handoff bench`: measures how fast KV blocks move through the data plane.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure KV transfer bandwidth through the data plane, against memcpy in the same run.",
        discussion: """
            Moves a KV-shaped plan between two pools: --layers × 2 (K, V) × --blocks pieces of --block-kib KiB. \
            Every iteration's destination is checked byte for byte. --local starts the second process on this \
            host; across hosts, run 'handoff bench serve' on one and 'handoff bench run --peer HOST:PORT' on \
            the other. Options that take a list or a range (e.g. --block-kib 4..65536 --op read,write) sweep every \
            combination, one point each, printed as a table (or --json array, or --csv).
            """,
        subcommands: [BenchServeCommand.self, BenchRunCommand.self])

    @Flag(help: "Run both sides on this host, as two processes.")
    var local = false

    @OptionGroup var sweep: BenchSweepOptions

    func run() async throws {
        // Checked here, not in validate(): ArgumentParser validates this command before running a subcommand too.
        guard local else {
            throw ValidationError(
                "give --local (both sides on this host), or use 'handoff bench serve' and 'handoff bench run --peer HOST:PORT'"
            )
        }
        try await BenchSweep(points: try sweep.points(), format: sweep.format).run { try await $0.runLocal() }
    }
}
