import AsyncHTTPClient
import Foundation
import HandoffClient
import HandoffProto
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// `handoff router` as a swift-service-lifecycle `Service`: the OpenAI-compatible HTTP API (`/v1/completions`,
/// `/v1/chat/completions`), `/health` and `/metrics`, over one coordinator connection (following a cluster's leader) and one HTTP client pool to the
/// engines. On graceful shutdown it stops accepting and lets requests in flight finish.
public struct RouterServer: Service {
    public let configuration: RouterConfiguration
    let registry: PrometheusCollectorRegistry
    let metricsFactory: any MetricsFactory
    let logger: Logger
    let onListening: @Sendable (_ port: Int) -> Void

    /// - Parameters:
    ///   - registry: what `/metrics` serves; `metricsFactory` should record into it.
    ///   - onListening: called once with the bound port (useful with port 0).
    public init(
        configuration: RouterConfiguration, registry: PrometheusCollectorRegistry, metricsFactory: any MetricsFactory,
        logger: Logger = Logger(label: "handoff.router"),
        onListening: @escaping @Sendable (_ port: Int) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.registry = registry
        self.metricsFactory = metricsFactory
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.timeout = .init(
            connect: .seconds(5), read: .nanoseconds(CompletionRouter.nanoseconds(configuration.readIdleTimeout)))
        // A connection per request in flight to one engine, as many as the router takes requests: AsyncHTTPClient's
        // default of 8 per host made the ninth concurrent stream to an engine wait, then fail. Idle connections are
        // closed before the engine's own keep-alive ends (uvicorn's, vLLM's server, is 5 s): reusing one the engine
        // was closing failed a request with "I/O on closed channel" (1 of 64 at 16 streams to vLLM).
        httpConfiguration.connectionPool = .init(
            idleTimeout: .seconds(4), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConcurrentRequests)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        do {
            try await withCoordinatorConnection(configuration.coordinator) { connection in
                let gateway = CoordinatorGateway(connection: connection, timeout: configuration.coordinatorTimeout)
                let router = CompletionRouter(
                    configuration: configuration, coordinator: gateway, http: http,
                    metrics: RouterMetrics(factory: metricsFactory), logger: logger)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await EngineConnections(gateway: gateway, http: http, logger: logger).keepWarm() }
                    try await serve(router, gateway: gateway)
                    group.cancelAll()
                }
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    private func serve(_ completions: CompletionRouter, gateway: CoordinatorGateway) async throws {
        let routes = Router(context: RouterRequestContext.self)
        for api in CompletionAPI.allCases {
            routes.post(RouterPath(api.path)) { request, context in
                await completions.respond(api, to: request, client: await context.clientDisconnect())
            }
        }
        routes.get("/health") { _, _ in await Self.health(gateway) }
        let registry = self.registry
        routes.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let onListening = self.onListening
        let app = Application(
            router: routes,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [ClientDisconnect()], idleTimeout: .seconds(60))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "handoff-router"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }

    /// 200 with the live engines when at least one prefill and one decode engine with an endpoint are registered,
    /// 503 otherwise.
    static func health(_ gateway: CoordinatorGateway) async -> Response {
        let status: HTTPResponse.Status
        let object: [String: Any]
        do {
            let live = try await gateway.workers().filter { $0.state == "live" && !$0.endpoint.isEmpty }
            let prefill = live.filter { $0.role == .prefill }.count
            let decode = live.filter { $0.role == .decode }.count
            status = prefill > 0 && decode > 0 ? .ok : .serviceUnavailable
            object = ["status": status == .ok ? "ok" : "no_pair", "prefill": prefill, "decode": decode]
        } catch {
            status = .serviceUnavailable
            object = ["status": "no_coordinator", "error": error.message]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }
}
