import HandoffCore
import HandoffProto

extension WorkerInstruction {
    public var proto: Handoff_V1_CoordinatorMessage {
        var message = Handoff_V1_CoordinatorMessage()
        switch self {
        case .registered(let interval, let reportKey):
            message.registered = .with {
                $0.heartbeatIntervalSeconds = interval.seconds
                $0.reportKey = reportKey
            }
        case .peerUp(let peer):
            message.peerUp = .with {
                $0.workerID = peer.identity.id
                $0.instance = peer.identity.instance
                $0.descriptor = .init(peer.descriptor)
                $0.node = peer.node
                $0.rack = peer.rack
            }
        case .peerDown(let identity, let reason):
            message.peerDown = .with {
                $0.workerID = identity.id
                $0.instance = identity.instance
                $0.reason = reason
            }
        case .prefill(let order):
            message.prefill = .with {
                $0.ticket = order.ticket
                $0.requestID = order.requestID
                $0.promptTokens = UInt32(clamping: order.promptTokens)
                $0.blocks = UInt32(clamping: order.blocks)
                $0.contentSeed = order.contentSeed
                $0.leaseSeconds = order.lease.seconds
                $0.traceparent = order.traceparent
            }
        case .reserve(let ticket, let blocks, let push):
            message.reserve = .with {
                $0.ticket = ticket
                $0.blocks = UInt32(clamping: blocks)
                $0.push = push
            }
        case .pushTarget(let target):
            message.pushTarget = .with {
                $0.ticket = target.ticket
                $0.decodeWorker = target.decode.id
                $0.decodeInstance = target.decode.instance
                $0.decodeDescriptor = .init(target.decodeDescriptor)
                $0.destinationBlocks = target.destinationBlocks.map { UInt32(clamping: $0) }
                $0.cachedBlocks = UInt32(clamping: target.cachedBlocks)
                $0.grant = target.grant
                $0.timeoutSeconds = target.timeout.seconds
            }
        case .pull(let order):
            message.pull = .with {
                $0.ticket = order.ticket
                $0.sourceWorker = order.source.id
                $0.sourceInstance = order.source.instance
                $0.sourceDescriptor = .init(order.sourceDescriptor)
                $0.sourceBlocks = order.sourceBlocks.map { UInt32(clamping: $0) }
                $0.destinationBlocks = order.destinationBlocks.map { UInt32(clamping: $0) }
                $0.contentSeed = order.contentSeed
                $0.promptTokens = UInt32(clamping: order.promptTokens)
                $0.timeoutSeconds = order.timeout.seconds
                $0.sourceGrant = order.sourceGrant
                if let pushed = order.pushed { $0.pushed = pushed.proto }
                $0.traceparent = order.traceparent
            }
        case .release(let ticket, let reason):
            message.release = .with {
                $0.ticket = ticket
                $0.reason = reason
            }
        case .rejected(let ticket, let code, let text):
            message.rejected = .with {
                $0.ticket = ticket
                $0.code = Int32(clamping: code)
                $0.message = text
            }
        }
        return message
    }

    /// - Throws: `ProtocolError` for a message with no kind or an out-of-range duration.
    public init(proto message: Handoff_V1_CoordinatorMessage) throws(ProtocolError) {
        switch message.kind {
        case .registered(let m):
            self = .registered(
                heartbeatInterval: try .fromWire(seconds: m.heartbeatIntervalSeconds, field: "heartbeat interval"),
                reportKey: m.reportKey)
        case .peerUp(let m):
            self = .peerUp(
                PeerAnnouncement(
                    identity: WorkerIdentity(id: m.workerID, instance: m.instance), descriptor: Array(m.descriptor),
                    node: m.node, rack: m.rack))
        case .peerDown(let m):
            self = .peerDown(WorkerIdentity(id: m.workerID, instance: m.instance), reason: m.reason)
        case .prefill(let m):
            self = .prefill(
                PrefillOrder(
                    ticket: m.ticket, requestID: m.requestID, promptTokens: Int(m.promptTokens), blocks: Int(m.blocks),
                    contentSeed: m.contentSeed, lease: try .fromWire(seconds: m.leaseSeconds, field: "lease"),
                    traceparent: TraceParent.checked(m.traceparent)))
        case .reserve(let m):
            self = .reserve(ticket: m.ticket, blocks: Int(m.blocks), push: m.push)
        case .pushTarget(let m):
            self = .pushTarget(
                PushTarget(
                    ticket: m.ticket, decode: WorkerIdentity(id: m.decodeWorker, instance: m.decodeInstance),
                    decodeDescriptor: Array(m.decodeDescriptor), destinationBlocks: m.destinationBlocks.map(Int.init),
                    cachedBlocks: Int(m.cachedBlocks),
                    grant: m.grant, timeout: try .fromWire(seconds: m.timeoutSeconds, field: "push timeout")))
        case .pull(let m):
            self = .pull(
                PullOrder(
                    ticket: m.ticket, source: WorkerIdentity(id: m.sourceWorker, instance: m.sourceInstance),
                    sourceDescriptor: Array(m.sourceDescriptor), sourceBlocks: m.sourceBlocks.map(Int.init),
                    destinationBlocks: m.destinationBlocks.map(Int.init), contentSeed: m.contentSeed,
                    promptTokens: Int(m.promptTokens),
                    timeout: try .fromWire(seconds: m.timeoutSeconds, field: "pull timeout"),
                    sourceGrant: m.sourceGrant, pushed: m.hasPushed ? try TransferStats(proto: m.pushed) : nil,
                    traceparent: TraceParent.checked(m.traceparent)))
        case .release(let m):
            self = .release(ticket: m.ticket, reason: m.reason)
        case .rejected(let m):
            self = .rejected(ticket: m.ticket, code: Int(m.code), message: m.message)
        case nil:
            throw ProtocolError("coordinator message without a kind")
        }
    }
}
