import ArgumentParser

/// The `handoff` command.
@main
struct Handoff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "Moves LLM KV caches from prefill workers to decode workers.",
        subcommands: [
            DemoCommand.self, CoordinatorCommand.self, WorkerCommand.self, BenchCommand.self,
            BenchControlPlaneCommand.self, BenchPeerCommand.self, TopoCommand.self, RequestCommand.self,
            RouterCommand.self, AccountCommand.self, BenchEngineCommand.self, BenchRouterCommand.self,
        ])
}
