/// What the serving side of a native TCP data-plane port allows a client: how many connections, and how long
/// each phase of a connection may take. Whatever a client does past a limit, its connection is closed (with a
/// message where the protocol has room for one) and nothing else is affected.
public struct TCPServerLimits: Sendable, Hashable {
    /// Connections served at once, past their hello (probes included); more are refused as busy.
    public var maxConnections: Int
    /// Connections accepted that have not said hello yet; past it, the one waiting longest is closed for the new
    /// one, so that silent connections cannot lock peers out. They cost a descriptor each, no thread.
    public var maxPendingHellos: Int
    /// How long a new connection may take to send its hello, its TLS handshake included.
    public var helloTimeout: Duration
    /// How long a request's ranges and data may stall, and how long an answer may wait for the client to read.
    public var requestTimeout: Duration
    /// How long a connection may stay silent between requests before it is closed. Clients reuse an idle
    /// connection only within `TCPPeerLink.maxIdleReuse`, well under the default.
    public var idleTimeout: Duration
    /// Notifications received and not yet read by the transport's user; more are refused.
    public var maxQueuedNotifications: Int

    public init(
        maxConnections: Int = 256, maxPendingHellos: Int = 256, helloTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(120),
        maxQueuedNotifications: Int = HandoffDataPlane.maxQueuedNotifications
    ) {
        self.maxConnections = max(1, maxConnections)
        self.maxPendingHellos = max(1, maxPendingHellos)
        self.helloTimeout = helloTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.maxQueuedNotifications = max(1, maxQueuedNotifications)
    }
}
