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
/// Its port needs no token, so it is bounded: a request must arrive whole within `requestTimeout` of the connection
/// opening or of the previous answer, however slowly its bytes trickle in (`RequestDeadline`), and at
/// `maxConnections` a new connection takes the place of the oldest one whose request is still incomplete, or is
/// closed at once when every open connection has a whole request being answered.
public struct MetricsEndpoint: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let host: String
    public let port: Int
    /// How long a request may take to arrive whole (headers and body), from the connection opening or the previous
    /// answer on it; scrapers reconnect.
    public var requestTimeout: Duration = .seconds(10)
    /// Connections served at once.
    public var maxConnections = 64
    /// The coordinator's live view, served at `/` and `/api/live`; nil serves neither.
    public var liveView: LiveView?
    let logger: Logger
    private let openConnections = MetricsConnections()

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
            .bind(host: host, port: port) { [requestTimeout, openConnections] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        RequestDeadline(
                            timeout: .nanoseconds(Int64(clamping: requestTimeout.nanoseconds)),
                            connections: openConnections))
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        onListening(server.channel.localAddress?.port ?? port)
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        guard openConnections.admit(connection.channel, limit: maxConnections) else {
                            logger.debug("metrics connection refused: \(maxConnections) open, each with a request")
                            group.addTask { try? await connection.executeThenClose { _, _ in } }  // closes it now
                            continue
                        }
                        group.addTask {
                            defer { openConnections.leave(connection.channel) }
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

/// The connections being served, oldest first, and whether each is still waiting for a whole request.
private final class MetricsConnections: Sendable {
    private struct Entry {
        let channel: any Channel
        var incomplete = true
    }

    private let state = Mutex<(entries: [ObjectIdentifier: Entry], order: [ObjectIdentifier])>(([:], []))

    /// Counts `channel`, closing the oldest connection with an incomplete request for it at `limit`; false (and
    /// not counted) when every open connection has a whole request.
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        let (admitted, evicted) = state.withLock { state -> (Bool, (any Channel)?) in
            var evicted: (any Channel)?
            if state.entries.count >= limit {
                guard let oldest = state.order.first(where: { state.entries[$0]?.incomplete == true }) else {
                    return (false, nil)
                }
                evicted = state.entries.removeValue(forKey: oldest)?.channel
                state.order.removeAll { $0 == oldest }
            }
            let id = ObjectIdentifier(channel)
            state.entries[id] = Entry(channel: channel)
            state.order.append(id)
            return (true, evicted)
        }
        evicted?.close(promise: nil)
        return admitted
    }

    /// Whether `channel` is waiting for (part of) a request.
    func setIncomplete(_ channel: any Channel, _ incomplete: Bool) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.entries[id]?.incomplete = incomplete }
    }

    func leave(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { state in
            if state.entries.removeValue(forKey: id) != nil { state.order.removeAll { $0 == id } }
        }
    }
}

/// Closes a connection whose request does not arrive whole within the timeout: armed when the connection opens and
/// again after each answer, disarmed by a request's end. Unlike an idle timeout, a byte now and then does not keep
/// it open.
private final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    private let connections: MetricsConnections
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, connections: MetricsConnections) {
        self.timeout = timeout
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            disarm()
            connections.setIncomplete(context.channel, false)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            connections.setIncomplete(context.channel, true)
            arm(context)
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
