import HandoffControlProtocol
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization

/// A small HTTP server for Prometheus: `GET /metrics` returns the registry in the text exposition format,
/// `GET /healthz` returns `ok`; with a `liveView`, `GET /` is its page and `GET /api/live` its snapshot.
///
/// Its port needs no token, so it is bounded: a connection that sends nothing for `idleTimeout` is closed (one that
/// never finishes its headers with it), and beyond `maxConnections` new connections are closed at once.
public struct MetricsEndpoint: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let host: String
    public let port: Int
    /// How long a connection may stay silent; scrapers reconnect.
    public var idleTimeout: Duration = .seconds(10)
    /// Connections served at once.
    public var maxConnections = 64
    /// The coordinator's live view, served at `/` and `/api/live`; nil serves neither.
    public var liveView: LiveView?
    let logger: Logger
    private let openConnections = OpenConnections()

    public init(
        registry: PrometheusCollectorRegistry, host: String, port: Int,
        logger: Logger = Logger(label: "handoff.metrics")
    ) {
        self.registry = registry
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Serves until cancelled; `onListening` gets the bound port.
    public func run(onListening: @Sendable (Int) -> Void = { _ in }) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { [idleTimeout] channel in
                channel.eventLoop.makeCompletedFuture {
                    let idle = TimeAmount.nanoseconds(Int64(clamping: idleTimeout.nanoseconds))
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(readTimeout: idle), CloseOnIdleHandler())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        onListening(server.channel.localAddress?.port ?? port)
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        guard openConnections.enter(limit: maxConnections) else {
                            logger.debug("metrics connection refused: \(maxConnections) open")
                            group.addTask { try? await connection.executeThenClose { _, _ in } }  // closes it now
                            continue
                        }
                        group.addTask {
                            defer { openConnections.leave() }
                            await serve(connection)
                        }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var path = ""
                for try await part in inbound {
                    switch part {
                    case .head(let head): path = head.uri
                    case .body: break
                    case .end:
                        let (status, body, type) = await response(for: path)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: type)
                        headers.add(name: "Content-Length", value: "\(body.count)")
                        try await outbound.write(
                            .head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                        try await outbound.write(.end(nil))
                    }
                }
            }
        } catch {
            logger.debug("metrics connection ended: \(error)")
        }
    }

    private func response(for path: String) async -> (HTTPResponseStatus, [UInt8], String) {
        switch (path.split(separator: "?").first.map(String.init) ?? path, liveView) {
        case ("/metrics", _): (.ok, registry.emitToBuffer(), "text/plain; version=0.0.4; charset=utf-8")
        case ("/healthz", _): (.ok, Array("ok\n".utf8), "text/plain")
        case ("/", let liveView?): (.ok, liveView.page, "text/html; charset=utf-8")
        case ("/api/live", let liveView?): (.ok, await liveView.snapshot(), "application/json")
        default: (.notFound, Array("not found; try /metrics\n".utf8), "text/plain")
        }
    }
}

/// Counts the connections being served.
private final class OpenConnections: Sendable {
    private let count = Mutex(0)

    /// Counts one more connection unless `limit` are open; whether it was counted.
    func enter(limit: Int) -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { count.withLock { $0 -= 1 } }
}

/// Closes a connection that `IdleStateHandler` reports silent.
private final class CloseOnIdleHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
