/// What the coordinator tells a worker on its session.
public enum WorkerInstruction: Sendable, Hashable {
    /// The session is open; heartbeat at this interval. `reportKey` authenticates a `Report` sent outside the
    /// session.
    case registered(heartbeatInterval: Duration, reportKey: UInt64 = 0)
    /// A prefill worker this decode worker was just paired with for the first time: connect the data plane to it
    /// now, while the prompt is computed.
    case peerUp(PeerAnnouncement)
    /// That instance is gone; drop its connection and never use its keys again.
    case peerDown(WorkerIdentity, reason: String)
    /// Compute a prompt and hold its blocks until `release` or the lease ends.
    case prefill(PrefillOrder)
    /// Allocate destination blocks for a ticket; `push`: grant the prefill worker WRITE access to them (push mode).
    case reserve(ticket: String, blocks: Int, push: Bool = false)
    /// Push mode, to the prefill worker: write the prompt's KV into these decode blocks while computing it.
    case pushTarget(PushTarget)
    /// Pull KV from a prefill worker into the reserved blocks (or, when `order.pushed` is set, take the KV the
    /// prefill worker already pushed there).
    case pull(PullOrder)
    /// The ticket is over: free its blocks.
    case release(ticket: String, reason: String)
    /// A report sent on the session was refused (gRPC status code and message).
    case rejected(ticket: String, code: Int, message: String)
}

/// A peer worker and the descriptor to reach it with.
public struct PeerAnnouncement: Sendable, Hashable {
    public var identity: WorkerIdentity
    public var descriptor: [UInt8]
    public var node: String
    public var rack: String

    public init(identity: WorkerIdentity, descriptor: [UInt8], node: String, rack: String) {
        self.identity = identity
        self.descriptor = descriptor
        self.node = node
        self.rack = rack
    }
}

/// The prefill side of a ticket.
public struct PrefillOrder: Sendable, Hashable {
    public var ticket: String
    public var requestID: String
    public var promptTokens: Int
    public var blocks: Int
    /// Seed of the request's deterministic KV content (simulated engines write it, decode verifies it).
    public var contentSeed: UInt64
    /// How long the worker keeps the blocks if no release comes.
    public var lease: Duration
    /// The W3C `traceparent` of the request's span at the coordinator; empty when it is not traced.
    public var traceparent: String

    public init(
        ticket: String, requestID: String, promptTokens: Int, blocks: Int, contentSeed: UInt64, lease: Duration,
        traceparent: String = ""
    ) {
        self.traceparent = traceparent
        self.ticket = ticket
        self.requestID = requestID
        self.promptTokens = promptTokens
        self.blocks = blocks
        self.contentSeed = contentSeed
        self.lease = lease
    }
}

/// The decode side of a ticket, once prefill is done.
public struct PullOrder: Sendable, Hashable {
    public var ticket: String
    public var source: WorkerIdentity
    public var sourceDescriptor: [UInt8]
    public var sourceBlocks: [Int]
    public var destinationBlocks: [Int]
    public var contentSeed: UInt64
    public var promptTokens: Int
    /// The data plane gives up after this long.
    public var timeout: Duration
    /// The source worker's data-plane grant of the source blocks (0: none).
    public var sourceGrant: UInt64
    /// Push mode: the source already wrote the KV into `destinationBlocks` (its statistics); nothing moves and
    /// `sourceBlocks` is empty.
    public var pushed: TransferStats?
    /// The W3C `traceparent` of the request's span at the coordinator; empty when it is not traced.
    public var traceparent: String

    public init(
        ticket: String, source: WorkerIdentity, sourceDescriptor: [UInt8], sourceBlocks: [Int],
        destinationBlocks: [Int],
        contentSeed: UInt64, promptTokens: Int, timeout: Duration, sourceGrant: UInt64 = 0,
        pushed: TransferStats? = nil, traceparent: String = ""
    ) {
        self.traceparent = traceparent
        self.sourceGrant = sourceGrant
        self.pushed = pushed
        self.ticket = ticket
        self.source = source
        self.sourceDescriptor = sourceDescriptor
        self.sourceBlocks = sourceBlocks
        self.destinationBlocks = destinationBlocks
        self.contentSeed = contentSeed
        self.promptTokens = promptTokens
        self.timeout = timeout
    }
}

/// Push mode: where a prefill worker writes a ticket's KV, on the decode worker that reserved blocks for it.
public struct PushTarget: Sendable, Hashable {
    public var ticket: String
    public var decode: WorkerIdentity
    public var decodeDescriptor: [UInt8]
    /// Destination of the prompt's blocks after the first `cachedBlocks` (which decode already holds), token order.
    public var destinationBlocks: [Int]
    public var cachedBlocks: Int
    /// The decode worker's data-plane grant of `destinationBlocks` for WRITE.
    public var grant: UInt64
    /// The data plane gives up after this long.
    public var timeout: Duration

    public init(
        ticket: String, decode: WorkerIdentity, decodeDescriptor: [UInt8], destinationBlocks: [Int], cachedBlocks: Int,
        grant: UInt64, timeout: Duration
    ) {
        self.ticket = ticket
        self.decode = decode
        self.decodeDescriptor = decodeDescriptor
        self.destinationBlocks = destinationBlocks
        self.cachedBlocks = cachedBlocks
        self.grant = grant
        self.timeout = timeout
    }
}
