import ArgumentParser
import Foundation
import HandoffClient
import HandoffControlProtocol
import HandoffCore
import HandoffRouter
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `handoff router`: the OpenAI-compatible front of a disaggregated vLLM (or any engine running a Handoff connector).
struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract:
            "Serve /v1/completions and /v1/chat/completions disaggregated: admit at the coordinator, prefill on one engine, decode on another.",
        discussion: """
            Each request is admitted at the coordinator, which pairs a prefill and a decode engine by its policy. The \
            router sends the prompt to the prefill engine (one token; its HandoffConnector hands the KV over under \
            the ticket), then the client's request to the decode engine, which loads that KV, and streams decode's \
            answer back. Engines are reached at the endpoints their connectors registered. Also serves /health and \
            /metrics. Prints `LISTENING http=PORT` on stdout once bound.
            """)

    @Option(help: "Address of the HTTP API.") var listen = HostPort(host: "0.0.0.0", port: 8000)
    @Option(help: "The coordinator, HOST:PORT, or its cluster's HOST:PORT,HOST:PORT,... (the leader is followed).")
    var coordinator: String
    @Option(help: "File holding the coordinator's bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @Option(help: "Seconds the prefill engine may take.") var prefillTimeoutSeconds = 120.0
    @Option(help: "Seconds the decode engine may take to start answering, and to stay silent while streaming.")
    var decodeTimeoutSeconds = 120.0
    @Option(help: "Requests handled at once; more are refused with 503.") var maxConcurrentRequests = 1024
    @Option(help: "The longest prompt the engines take, tokens (their max model length): it bounds a request's body.")
    var maxPromptTokens = 131_072
    @Option(help: "MiB of request bodies held at once, across all requests; more are refused with 503 unread.")
    var maxBufferedBodyMib = 256
    @Option(help: "Seconds a client may take to send its whole request body; 408 after.") var bodyTimeoutSeconds = 30.0
    @Option(
        help: """
            How KV moves: pull (prefill answers, then decode gets the request and pulls the KV) or push (both get the \
            request at once; prefill engines with HandoffConnector "mode": "push" write each layer into decode's \
            reserved blocks while computing).
            """)
    var mode: RouterConfiguration.TransferMode = .pull
    @Option(
        help: """
            Push mode: seconds to wait for decode to reserve its blocks before sending the prompt to prefill (0: send \
            both at once; prefill then writes the layers computed before the target came in one go when it comes). A \
            reservation that comes after prefill's last layer means that request's KV is pulled.
            """)
    var pushReserveWaitSeconds = 0.0
    @Option(help: "Log level.") var logLevel: Logger.Level = .info

    func validate() throws {
        for (name, seconds) in [
            ("--prefill-timeout-seconds", prefillTimeoutSeconds), ("--decode-timeout-seconds", decodeTimeoutSeconds),
        ]
        where !(seconds > 0 && seconds <= 86_400) {
            throw ValidationError("\(name) must be more than 0 and at most 86400, got \(seconds)")
        }
        guard pushReserveWaitSeconds >= 0, pushReserveWaitSeconds <= 3600 else {
            throw ValidationError("--push-reserve-wait-seconds must be 0 to 3600, got \(pushReserveWaitSeconds)")
        }
        guard bodyTimeoutSeconds > 0, bodyTimeoutSeconds <= 3600 else {
            throw ValidationError(
                "--body-timeout-seconds must be more than 0 and at most 3600, got \(bodyTimeoutSeconds)")
        }
        guard (1...(1 << 24)).contains(maxPromptTokens) else {
            throw ValidationError("--max-prompt-tokens must be 1 to 16777216, got \(maxPromptTokens)")
        }
        guard (1...(1 << 20)).contains(maxBufferedBodyMib) else {
            throw ValidationError("--max-buffered-body-mib must be 1 to 1048576, got \(maxBufferedBodyMib)")
        }
        guard (1...65_536).contains(maxConcurrentRequests) else {
            throw ValidationError("--max-concurrent-requests must be 1 to 65536, got \(maxConcurrentRequests)")
        }
    }

    func run() async throws {
        CommandLogging.bootstrap(level: logLevel)
        let token = try BearerToken.load(file: tokenFile)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60),
        ]
        var configuration = RouterConfiguration(
            host: listen.host, port: listen.port,
            coordinator: try CoordinatorAddress(
                parsing: coordinator, token: token, tls: try tls.files(forServer: false)))
        configuration.prefillTimeout = .seconds(prefillTimeoutSeconds)
        configuration.decodeTimeout = .seconds(decodeTimeoutSeconds)
        configuration.readIdleTimeout = .seconds(decodeTimeoutSeconds)
        configuration.maxConcurrentRequests = maxConcurrentRequests
        configuration.maxPromptTokens = maxPromptTokens
        configuration.maxBufferedBodyBytes = maxBufferedBodyMib << 20
        configuration.bodyTimeout = .seconds(bodyTimeoutSeconds)
        configuration.mode = mode
        configuration.pushReserveWait = .seconds(pushReserveWaitSeconds)
        let logger = Logger(label: "handoff.router")
        let server = RouterServer(
            configuration: configuration, registry: registry, metricsFactory: factory, logger: logger
        ) {
            port in
            FileHandle.standardOutput.write(Data("LISTENING http=\(port)\n".utf8))
        }
        let tracing = try TraceExport.bootstrap(serviceName: "handoff-router")
        let group = ServiceGroup(
            configuration: .init(
                services: (tracing.map { [.init(service: $0)] } ?? []) + [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension RouterConfiguration.TransferMode: ExpressibleByArgument {}
