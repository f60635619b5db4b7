import GRPCNIOTransportHTTP2
import NIOCore
import Synchronization

/// What the coordinator's gRPC port allows its clients, so that connections held open without calls cannot
/// exhaust its descriptors. Workers and routers keep a call open for as long as they are connected, so the idle
/// limit closes only connections that never made a call (a silent or half-open TCP or TLS connection) or have
/// finished them.
public struct GRPCPortLimits: Sendable, Hashable {
    /// Connections open at once; a connection past it is closed as soon as it is accepted.
    public var maxConnections: Int
    /// How long a new connection may take to open its first call (TLS handshake and HTTP/2 preface included).
    public var firstCallTimeout: Duration
    /// How long a connection with no call open may stay open after its last call.
    public var maxIdleTime: Duration
    /// How long a connection being closed (idle, or at shutdown) may take to acknowledge it before it is cut; a
    /// client that never speaks HTTP/2 never acknowledges.
    public var maxGraceTime: Duration
    /// Calls open at once on one connection (HTTP/2 streams).
    public var maxConcurrentStreams: Int
    /// How often the server pings a client whose connection has been silent, and how long it waits for the answer
    /// before closing the connection (a peer that vanished without closing).
    public var keepaliveInterval: Duration
    public var keepaliveTimeout: Duration

    public init(
        maxConnections: Int = 1024, firstCallTimeout: Duration = .seconds(10), maxIdleTime: Duration = .seconds(60),
        maxGraceTime: Duration = .seconds(10),
        maxConcurrentStreams: Int = 256,
        keepaliveInterval: Duration = .seconds(60), keepaliveTimeout: Duration = .seconds(20)
    ) {
        self.maxConnections = max(1, maxConnections)
        self.firstCallTimeout = firstCallTimeout
        self.maxIdleTime = maxIdleTime
        self.maxGraceTime = maxGraceTime
        self.maxConcurrentStreams = max(1, maxConcurrentStreams)
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
    }

    /// The transport configuration that enforces these limits, counting connections with a fresh counter.
    func transportConfig() -> HTTP2ServerTransport.Posix.Config {
        let open = ConnectionCount(limit: maxConnections)
        return .defaults { config in
            config.connection.maxIdleTime = maxIdleTime
            config.connection.maxGraceTime = maxGraceTime
            config.connection.keepalive.time = keepaliveInterval
            config.connection.keepalive.timeout = keepaliveTimeout
            config.http2.maxConcurrentStreams = maxConcurrentStreams
            let firstCallTimeout = self.firstCallTimeout
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                guard open.admit() else {
                    channel.close(promise: nil)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                channel.closeFuture.whenComplete { _ in open.release() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        FirstCallDeadline(deadline: firstCallTimeout), position: .first)
                }
            }
            config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
                stream.parent?.pipeline.fireUserInboundEventTriggered(FirstCallDeadline.CallOpened())
                return stream.eventLoop.makeSucceededVoidFuture()
            }
        }
    }
}

/// Connections open on one port, against a limit.
private final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection; false (not counted) when `limit` are open already.
    func admit() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, found) = open.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = found
        }
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}
