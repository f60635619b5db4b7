import ArgumentParser
import Foundation
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffTopology
import HandoffUCX
import HandoffWorker
import Logging
import ServiceLifecycle

/// `handoff worker`: a simulated engine worker with a real KV pool on the real data plane.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract:
            "Run a prefill or decode worker: a KV pool laid out by the model preset, registered with a coordinator.",
        discussion: """
            Prefill computes with a timing model and writes each request's deterministic KV; decode reserves blocks \
            from a free list, pulls them through the data plane, verifies every block and reports the first token. \
            The token comes from --token-file or $HANDOFF_TOKEN. The native TCP data-plane port also answers \
            'handoff topo --peer' with this node's topology (no KV: the worker serves only granted blocks).
            """)

    @Option(help: "prefill or decode.") var role: String
    @Option(help: "The coordinator's HOST:PORT.") var coordinator: String
    @Option(help: "Model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")).") var model = "llama-3.1-8b"
    @Option(help: "Worker id (default: ROLE-PID).") var id: String?
    @Option(help: "Blocks in the KV pool.") var blocks = 384
    @Option(help: "Tokens per block.") var blockTokens = KVGeometry.defaultBlockTokens
    @Option(help: "split or fused.") var arrangement = "split"
    @Option(help: "Node label (default: the host name).") var node: String?
    @Option(help: "Rack label.") var rack = ""
    @Option(help: "Prefill speed of the timing model, tokens/s.") var prefillTokensPerSecond = 20_000.0
    @Option(help: "First decode step, ms.") var decodeStepMs = 15
    @Option(help: "How long decode keeps a request's blocks after its first token, ms.") var decodeHoldMs = 100
    @Option(help: "Data plane: auto (UCX where both peers have it, native TCP otherwise), ucx or tcp.") var transport:
        TransportSelection = .auto
    @Option(help: "IPv4 address the native TCP data plane listens on (0.0.0.0: all, each advertised).") var tcpListen =
        "0.0.0.0"
    @Option(help: "UCX transports (UCX_TLS), comma separated.") var ucxTransports: String?
    @Option(help: "File holding the bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @Option(help: "Log level.") var logLevel: Logger.Level = .info

    func run() async throws {
        CommandLogging.bootstrap(level: logLevel)
        guard let role = WorkerRole(rawValue: role) else { throw ValidationError("--role must be prefill or decode") }
        guard let arrangement = KVArrangement(rawValue: arrangement) else {
            throw ValidationError("--arrangement must be split or fused")
        }
        let token = try BearerToken.load(file: tokenFile)
        let address = try CoordinatorAddress(
            parsing: coordinator, token: token, tls: try tls.files(forServer: false))
        var configuration = SimulatedWorkerConfiguration(
            id: id ?? "\(role.rawValue)-\(getpid())", role: role, model: try ModelPreset.named(model))
        configuration.numBlocks = blocks
        configuration.blockTokens = blockTokens
        configuration.arrangement = arrangement
        configuration.node = node ?? ProcessInfo.processInfo.hostName
        configuration.rack = rack
        configuration.prefillTokensPerSecond = prefillTokensPerSecond
        configuration.decodeStep = .milliseconds(decodeStepMs)
        configuration.decodeHold = .milliseconds(decodeHoldMs)
        configuration.ucxTransports = ucxTransports?.split(separator: ",").map(String.init)
        configuration.transport = transport
        configuration.tcpListenHost = tcpListen
        let (workerID, preset, selection) = (configuration.id, configuration.model.name, transport.rawValue)
        configuration.probeAnswer = { offers in
            let worker = ProbedWorker(
                id: workerID, role: role.rawValue, model: preset, transport: selection, offers: offers.map(\.transport))
            let answer = ProbeAnswer(worker: worker)
            return { answer.text() }
        }
        let worker = SimulatedWorker(configuration: configuration, coordinator: address)
        let logger = Logger(label: "handoff.worker")
        let tracing = try TraceExport.bootstrap(serviceName: "handoff-worker", instance: configuration.id)
        var groupConfiguration = ServiceGroupConfiguration(
            services: (tracing.map { [.init(service: $0)] } ?? []) + [.init(service: WorkerService(worker: worker))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = WorkerService.shutdownGrace
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// Runs a worker under the service group. A graceful shutdown (SIGTERM, SIGINT) closes its session with the
/// coordinator in order, so that the coordinator records an orderly end; past `shutdownGrace` it is cancelled.
struct WorkerService: Service {
    static let shutdownGrace: Duration = .seconds(5)
    let worker: SimulatedWorker

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await worker.run()
        } onGracefulShutdown: {
            worker.shutDown()
        }
    }
}
