import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffControlProtocol
import Logging
import Prometheus
import ServiceLifecycle

/// The coordinator process as a swift-service-lifecycle `Service`: the gRPC API, the deadline sweeper and the
/// Prometheus endpoint. On graceful shutdown (SIGINT/SIGTERM through a `ServiceGroup`) it stops admitting, lets
/// tickets in flight finish for `shutdownGrace`, fails the rest with a reason, and returns.
public struct CoordinatorServer: Service {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Where `/metrics` is served; nil for no endpoint.
        public var metricsHost: String?
        public var metricsPort: Int
        public var token: BearerToken
        public var shutdownGrace: Duration
        /// TLS on the gRPC port (mutual when it names trust roots); nil: plaintext.
        public var tls: TLSFiles?
        /// What the gRPC port allows its clients.
        public var limits: GRPCPortLimits
        /// The etcd cluster this coordinator campaigns in for leadership; nil: it leads alone, as the only one.
        public var cluster: ClusterConfiguration?

        public init(
            host: String, port: Int, metricsHost: String?, metricsPort: Int, token: BearerToken,
            shutdownGrace: Duration = .seconds(10), tls: TLSFiles? = nil, limits: GRPCPortLimits = .init(),
            cluster: ClusterConfiguration? = nil
        ) {
            self.host = host
            self.port = port
            self.metricsHost = metricsHost
            self.metricsPort = metricsPort
            self.token = token
            self.shutdownGrace = shutdownGrace
            self.tls = tls
            self.limits = limits
            self.cluster = cluster
        }
    }

    public let configuration: Configuration
    public let coordinator: Coordinator
    public let registry: PrometheusCollectorRegistry
    let logger: Logger
    let onListening: @Sendable (_ grpcPort: Int, _ metricsPort: Int?) -> Void

    /// - Parameter onListening: called once with the bound ports (useful with port 0).
    public init(
        configuration: Configuration, coordinator: Coordinator, registry: PrometheusCollectorRegistry,
        logger: Logger = Logger(label: "handoff.coordinator"),
        onListening: @escaping @Sendable (_ grpcPort: Int, _ metricsPort: Int?) -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.coordinator = coordinator
        self.registry = registry
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.port),
            transportSecurity: configuration.tls.map(\.serverSecurity) ?? .plaintext,
            config: configuration.limits.transportConfig(token: configuration.token))
        let election = configuration.cluster.map {
            LeaderElection(cluster: $0, coordinator: self.coordinator, logger: logger)
        }
        var interceptors: [any ServerInterceptor] = [BearerTokenServerInterceptor(token: configuration.token)]
        if let election, let cluster = configuration.cluster {
            interceptors.append(LeaderGate(role: election.role, advertised: cluster.advertise.description))
        }
        let server = GRPCServer(
            transport: transport, services: [CoordinatorService(coordinator: coordinator)], interceptors: interceptors)
        let coordinator = self.coordinator
        // A clustered coordinator acts only once elected.
        if election != nil { await coordinator.follow() }
        // The server runs in a task of its own that is never cancelled: it ends by a graceful shutdown, which stops
        // accepting before it ends. A gRPC server cancelled while its listener is open drops a connection accepted
        // meanwhile without finishing its writer, which traps in swift-nio ("Deinited NIOAsyncWriter without
        // calling finish()"). Cancelling `run` therefore shuts the server down gracefully (its connections get
        // `GRPCPortLimits.maxGraceTime`) and ends the coordinator's sessions at once.
        let serving = Task { try await server.serve() }
        try await withTaskCancellationHandler {
            try await serve(server, serving: serving, election: election)
        } onCancel: {
            server.beginGracefulShutdown()
            Task { await coordinator.shutDown(grace: .zero) }
        }
        logger.info("coordinator stopped")
    }

    private func serve(
        _ server: GRPCServer<HTTP2ServerTransport.Posix>, serving: Task<Void, any Error>, election: LeaderElection?
    ) async throws {
        let coordinator = self.coordinator
        try await withThrowingTaskGroup(of: ServerTask.self) { group in
            group.addTask {
                try await serving.value
                return .server
            }
            group.addTask {
                await coordinator.run()
                return .other
            }
            let metricsPort = AsyncStream.makeStream(of: Int.self)
            if let metricsHost = configuration.metricsHost {
                var endpoint = MetricsEndpoint(registry: registry, host: metricsHost, port: configuration.metricsPort)
                endpoint.liveView = LiveView(coordinator: coordinator)
                group.addTask {
                    defer { metricsPort.continuation.finish() }
                    try await endpoint.run { port in
                        metricsPort.continuation.yield(port)
                        metricsPort.continuation.finish()
                    }
                    return .other
                }
            } else {
                metricsPort.continuation.finish()
            }
            guard let address = try await server.listeningAddress?.ipv4 else {
                server.beginGracefulShutdown()
                throw RPCError(code: .internalError, message: "the gRPC server is not listening on IPv4")
            }
            var boundMetrics: Int?
            for await port in metricsPort.stream { boundMetrics = port }
            if configuration.metricsHost != nil && boundMetrics == nil {
                server.beginGracefulShutdown()
                _ = try await group.next()  // the metrics endpoint failed to bind: surface its error
            }
            logger.info(
                "coordinator listening",
                metadata: [
                    "grpc": "\(address)", "metrics": "\(boundMetrics.map(String.init) ?? "off")",
                    "tls":
                        "\(configuration.tls == nil ? "off" : configuration.tls?.trustRoots == nil ? "on" : "mutual")",
                    "cluster": "\(configuration.cluster.map { "\($0.name) on \($0.etcd)" } ?? "off: leading alone")",
                ])
            onListening(address.port, boundMetrics)
            if let election {
                // Campaigns again after every loss of leadership or of etcd: it ends only when cancelled.
                group.addTask {
                    await election.run()
                    return .other
                }
            }
            // Until a graceful shutdown is asked for, or a task fails (the metrics endpoint).
            group.addTask {
                try? await gracefulShutdown()
                throw ShutdownRequested()
            }
            var failure: (any Error)?
            var serverEnded = false
            do {
                serverEnded = try await group.next() == .server
            } catch is ShutdownRequested {
                await coordinator.shutDown(grace: configuration.shutdownGrace)
            } catch {
                failure = error
                logger.critical("coordinator stopping: \(error)")
                await coordinator.shutDown(grace: .zero)
            }
            await election?.stepDown()
            server.beginGracefulShutdown()
            // Until the server has ended its connections; what the other tasks end with no longer matters.
            while !serverEnded {
                do {
                    guard let ended = try await group.next() else { break }
                    serverEnded = ended == .server
                } catch {
                    continue
                }
            }
            group.cancelAll()
            if let failure { throw failure }
        }
    }

    /// Ends the server's task group when a graceful shutdown is asked for.
    private struct ShutdownRequested: Error {}

    /// Which of the server's tasks ended.
    private enum ServerTask: Sendable { case server, other }
}

extension TLSFiles {
    /// TLS from the server's side: this certificate and key; with trust roots, every client must present a
    /// certificate that chains to them (any host name: clients are identified by their token and session).
    var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        let chain: [TLSConfig.CertificateSource] = certificateChain.map { [.file(path: $0, format: .pem)] } ?? []
        let key = TLSConfig.PrivateKeySource.file(path: privateKey ?? "", format: .pem)
        guard let trustRoots else { return .tls(certificateChain: chain, privateKey: key) }
        return .mTLS(certificateChain: chain, privateKey: key) { config in
            config.trustRoots = .certificates([.file(path: trustRoots, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }
}
