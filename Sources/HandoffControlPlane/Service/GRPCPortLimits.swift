import GRPCNIOTransportHTTP2
import HandoffControlProtocol
import NIOCore
import Synchronization

/// What the coordinator's gRPC port allows its clients, so that connections held open without calls cannot
/// exhaust its descriptors. Workers and routers keep a call open for as long as they are connected, so the idle
/// limit closes only connections that never made a call (a silent or half-open TCP or TLS connection) or have
/// finished them.
public struct GRPCPortLimits: Sendable, Hashable {
    /// Connections open at once. Past it, a new connection replaces the oldest one that has made no call yet, or
    /// is closed as soon as it is accepted when every open connection has made one.
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
    /// How often clients may ping, with or without calls open: Handoff's clients ping every second to notice a
    /// paused or unreachable coordinator (`CoordinatorAddress.keepalive`). Pings more often count as strikes, and a
    /// few strikes close the connection.
    public static let minClientPingInterval = Duration.milliseconds(500)

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

    /// The transport configuration that enforces these limits, counting connections afresh. A connection counts
    /// as a client's (kept at the cap) only once it makes a call carrying `token` (`CallAuthentication`); one that
    /// makes a call without it is closed after that call's refusal.
    func transportConfig(token: BearerToken) -> HTTP2ServerTransport.Posix.Config {
        let connections = OpenConnections(limit: maxConnections)
        let firstCallTimeout = self.firstCallTimeout
        return .defaults { config in
            config.connection.maxIdleTime = maxIdleTime
            config.connection.maxGraceTime = maxGraceTime
            config.connection.keepalive.time = keepaliveInterval
            config.connection.keepalive.timeout = keepaliveTimeout
            config.connection.keepalive.clientBehavior = .init(
                minPingIntervalWithoutCalls: Self.minClientPingInterval, allowWithoutCalls: true)
            config.http2.maxConcurrentStreams = maxConcurrentStreams
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                guard connections.admit(channel) else {
                    channel.close(promise: nil)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                channel.closeFuture.whenComplete { _ in connections.closed(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        FirstCallDeadline(deadline: firstCallTimeout) { connections.calledIn(channel) },
                        position: .first)
                }
            }
            config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(CallAuthentication(token: token), position: .first)
                }
            }
        }
    }
}

/// The connections open on one port, against a limit. At the limit, a new connection takes the place of the
/// oldest one that has not made a call yet, so that connections that never speak cannot lock clients out; only
/// when every open connection has made a call is the new one refused.
private final class OpenConnections: Sendable {
    private struct State {
        var open = 0
        /// Connections that have made no call yet, oldest first.
        var silent: [(id: ObjectIdentifier, channel: any Channel)] = []
    }

    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection, closing the oldest silent one for it at the limit; false when it is refused.
    func admit(_ channel: any Channel) -> Bool {
        let (admitted, evicted) = state.withLock { state -> (Bool, (any Channel)?) in
            var evicted: (any Channel)?
            if state.open >= limit {
                guard !state.silent.isEmpty else { return (false, nil) }
                evicted = state.silent.removeFirst().channel
            }
            state.open += 1
            state.silent.append((ObjectIdentifier(channel), channel))
            return (true, evicted)
        }
        evicted?.close(promise: nil)
        return admitted
    }

    /// `channel` opened a call: it is no longer a candidate for eviction.
    func calledIn(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.silent.removeAll { $0.id == id } }
    }

    func closed(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { state in
            state.open -= 1
            state.silent.removeAll { $0.id == id }
        }
    }
}
