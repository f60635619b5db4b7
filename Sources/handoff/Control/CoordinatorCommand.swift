import ArgumentParser
import Foundation
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `handoff coordinator`: the control-plane service.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract:
            "Run the coordinator: registers workers, pairs them per request, negotiates transfers, accounts TTFT.",
        discussion: """
            Every call must carry the bearer token from --token-file or $HANDOFF_TOKEN. On SIGINT/SIGTERM the \
            coordinator stops admitting, lets transfers in flight finish (up to --shutdown-grace-seconds), fails the \
            rest with a reason and exits 0. Prints `LISTENING grpc=PORT metrics=PORT` on stdout once bound.

            With --etcd, several coordinators of one --cluster name campaign for leadership through etcd; only the \
            leader admits and pairs, the others refuse every call with the leader's address. The worker registry \
            lives in etcd, so a new leader knows the fleet at once. A coordinator whose etcd lease lapses, or that \
            loses etcd, steps down (its requests go to the next leader), keeps refusing calls with the leader's \
            address, reconnects and campaigns again: it never exits for that.
            """)

    @Option(help: "Address of the gRPC API.") var listen = HostPort(host: "0.0.0.0", port: 50051)
    @Option(help: "Address of the Prometheus /metrics endpoint.") var metrics = HostPort(host: "0.0.0.0", port: 9464)
    @Flag(help: "Serve no /metrics endpoint.") var noMetrics = false
    @Option(help: "File holding the bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @Option(help: "Worker heartbeat interval, ms.") var heartbeatMs = 1000
    @Option(
        help: """
            Heartbeats a worker may miss before it is lost (one whose session ends is lost at once). Raise it where \
            engines pin their process, and so the connector's threads, to busy cores (vLLM's CPU build).
            """)
    var missedHeartbeats = 3
    @Option(help: "Lease on prefill blocks after prefill, seconds.") var leaseSeconds = 30.0
    @Option(help: "Stall timeout of a transfer, seconds.") var transferTimeoutSeconds = 30.0
    @Option(help: "Deadline of every other ticket state, seconds.") var stateTimeoutSeconds = 60.0
    @Option(help: "Grace for transfers in flight at shutdown, seconds.") var shutdownGraceSeconds = 10.0
    @Option(help: "Log level.") var logLevel: Logger.Level = .info
    @Option(help: "etcd member URLs (http://H:P,...): run as one of several coordinators with leader election.")
    var etcd: String?
    @Option(help: "Name of the coordinator cluster in etcd (with --etcd).") var cluster = "handoff"
    @Option(
        help:
            "The gRPC address clients are sent to when this coordinator leads (default: --listen, which then needs a host)."
    )
    var advertise: HostPort?
    @Option(
        help: ArgumentHelp(
            "TTL of the leader's etcd lease, seconds: a dead leader is replaced about this long after; renewed 5 "
                + "times per TTL, and a leader that goes 0.9 TTL without a renewal answered steps down."))
    var leaderTtlSeconds: Int64 = ClusterConfiguration.defaultLeaderTTLSeconds

    func run() async throws {
        CommandLogging.bootstrap(level: logLevel)
        let token = try BearerToken.load(file: tokenFile)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30),
        ]
        factory.valueHistogramBuckets["handoff_kv_transfer_bytes"] = (16...36).map { Double(1 << $0) }
        factory.valueHistogramBuckets["handoff_kv_descriptors"] = (0...20).map { Double(1 << $0) }
        MetricsSystem.bootstrap(factory)

        var configuration = CoordinatorConfiguration()
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.missedHeartbeats = missedHeartbeats
        configuration.lease = .seconds(leaseSeconds)
        configuration.transferTimeout = .seconds(transferTimeoutSeconds)
        for keyPath: WritableKeyPath<CoordinatorConfiguration, Duration> in [
            \.queueTimeout, \.prefillTimeout, \.reserveTimeout, \.firstTokenTimeout,
        ] {
            configuration[keyPath: keyPath] = .seconds(stateTimeoutSeconds)
        }
        let logger = Logger(label: "handoff.coordinator")
        let clusterConfiguration = try clusterConfiguration()
        let coordinator = Coordinator(
            configuration: configuration, metrics: CoordinatorMetrics(factory: factory), logger: logger)
        let server = CoordinatorServer(
            configuration: .init(
                host: listen.host, port: listen.port, metricsHost: noMetrics ? nil : metrics.host,
                metricsPort: metrics.port,
                token: token, shutdownGrace: .seconds(shutdownGraceSeconds), tls: try tls.files(forServer: true),
                cluster: clusterConfiguration),
            coordinator: coordinator, registry: registry, logger: logger
        ) { grpcPort, metricsPort in
            FileHandle.standardOutput.write(
                Data("LISTENING grpc=\(grpcPort) metrics=\(metricsPort.map(String.init) ?? "off")\n".utf8))
        }
        let tracing = try TraceExport.bootstrap(serviceName: "handoff-coordinator")
        let group = ServiceGroup(
            configuration: .init(
                services: (tracing.map { [.init(service: $0)] } ?? []) + [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    func validate() throws {
        guard (1...1000).contains(missedHeartbeats) else {
            throw ValidationError("--missed-heartbeats takes 1 to 1000")
        }
    }

    private func clusterConfiguration() throws -> ClusterConfiguration? {
        guard let etcd else { return nil }
        let advertised = advertise ?? listen
        guard !["0.0.0.0", "::", ""].contains(advertised.host), advertised.port != 0 else {
            throw ValidationError("--etcd needs --advertise HOST:PORT: the address clients reach this coordinator at")
        }
        guard leaderTtlSeconds >= 1 else { throw ValidationError("--leader-ttl-seconds must be at least 1") }
        return ClusterConfiguration(
            etcd: try EtcdEndpoints(parsing: etcd), name: cluster, advertise: advertised,
            leaderTTLSeconds: leaderTtlSeconds,
            workerTTLSeconds: max(10, 3 * Int64((missedHeartbeats * heartbeatMs + 999) / 1000)))
    }
}
