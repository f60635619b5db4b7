import ArgumentParser
import Foundation
import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import HandoffUCX
import Hummingbird
import Logging
import NIOCore

/// `handoff bench-engine`: an engine stand-in for router benchmarks (`StandinEngine`) with an HTTP API shaped like
/// vLLM's (`/v1/completions`, `/v1/chat/completions`, `/health`). Prints `LISTENING http=PORT` once registered.
struct BenchEngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-engine",
        abstract: "Run an engine stand-in for router benchmarks: the real connector runtime, no model.",
        discussion: """
            Prefill answers a request carrying a Handoff ticket once its KV is handed over; decode streams \
            --output-tokens tokens, one every --token-interval-ms, once the KV is loaded (a request without a \
            ticket is streamed at once: the engine's own time, for comparison).
            """)

    @Option(help: "prefill or decode.") var role: String
    @Option(help: "Worker id.") var id: String
    @Option(help: "The coordinator, HOST:PORT[,HOST:PORT...].") var coordinator: String
    @Option(help: "File holding the coordinator's bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @Option(help: "Where the HTTP API listens (port 0: any).") var listen = HostPort(host: "127.0.0.1", port: 0)
    @Option(help: "Model preset.") var model = "tiny"
    @Option(help: "Blocks in the KV pool.") var blocks = 8192
    @Option(help: "Tokens a decode answer has.") var outputTokens = 16
    @Option(help: "Milliseconds between two tokens of a decode answer.") var tokenIntervalMs = 10
    @Option(help: "Data plane: auto, ucx or tcp.") var transport: TransportSelection = .auto
    @Option(help: "Log level.") var logLevel: Logger.Level = .warning

    func run() async throws {
        CommandLogging.bootstrap(level: logLevel)
        guard let workerRole = WorkerRole(rawValue: role) else { throw ValidationError("--role is prefill or decode") }
        let logger = Logger(label: "handoff.bench-engine")
        let address = try CoordinatorAddress(parsing: coordinator, token: try BearerToken.load(file: tokenFile))
        let layout = KVLayoutSpec(
            preset: try ModelPreset.named(model), blockTokens: KVGeometry.defaultBlockTokens, arrangement: .split,
            numBlocks: blocks)
        let port = try Self.freePort(listen)
        var connector = ConnectorConfiguration(id: id, role: workerRole, layout: layout, coordinator: address)
        connector.endpoint = "http://\(listen.host):\(port)"
        connector.transport = transport
        connector.tcpListenHost = "127.0.0.1"
        let runtime = try await ConnectorRuntime.start(connector, memory: .allocate, logger: logger)
        let engine = StandinEngine(runtime: runtime, blocks: blocks, logger: logger)
        let answers = StandinAnswers(
            engine: engine, role: workerRole, outputTokens: outputTokens,
            tokenInterval: .milliseconds(tokenIntervalMs))
        let routes = Router(context: BasicRequestContext.self)
        for path in ["/v1/completions", "/v1/chat/completions"] {
            routes.post(RouterPath(path)) { request, _ in await answers.respond(to: request) }
        }
        routes.get("/health") { _, _ in Response(status: .ok) }
        let app = Application(
            router: routes, server: .http1(configuration: .init(idleTimeout: .seconds(120))),
            configuration: .init(address: .hostname(listen.host, port: port), serverName: "handoff-bench-engine"),
            onServerRunning: { _ in FileHandle.standardOutput.write(Data("LISTENING http=\(port)\n".utf8)) },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            group.addTask { await engine.run() }
            group.addTask { try await app.runService() }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The port to listen on: `listen`'s, or a free one for port 0 (its endpoint is registered before it binds).
    private static func freePort(_ listen: HostPort) throws -> Int {
        listen.port != 0 ? listen.port : try LoopbackPorts.reserve(1)[0]
    }
}
