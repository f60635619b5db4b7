import ArgumentParser

/// The other process of `handoff bench --local`: one `BenchPeerSession` over stdin and stdout.
struct BenchPeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-peer",
        abstract: "Serve one pool for 'handoff bench --local' (started by it; speaks a line protocol on stdin/stdout).",
        shouldDisplay: false)

    @OptionGroup var workloadOptions: WorkloadOptions

    @Option(help: "Whether this process holds the source or the destination pool.")
    var role: BenchPeerSession.Role

    func run() async throws {
        let session = BenchPeerSession(options: workloadOptions, role: role, listenHost: "127.0.0.1")
        try await session.run(over: LineChannel(input: .standardInput, output: .standardOutput))
    }
}

extension BenchRole: ExpressibleByArgument {}
