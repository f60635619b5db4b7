import HandoffControlPlane
import HandoffDataPlane
import Logging

/// A stand-in for an inference engine on top of the worker library: a real KV pool, a free list, a prefill timing
/// model that writes each request's deterministic content layer by layer, and a decode side that pulls through
/// the data plane, verifies every block and reports the first token.
public actor SimulatedEngine {
    public let configuration: SimulatedWorkerConfiguration
    let pool: LocalPool
    let session: WorkerSession
    let puller: KVPuller
    let logger: Logger
    var allocator: BlockAllocator
    /// Blocks held per ticket, with when the hold ends (lease on prefill, end of generation on decode).
    var holds: [String: Hold] = [:]
    /// Decode blocks reserved per ticket, not yet pulled into.
    var reserved: [String: [Int]] = [:]
    /// Prefill tickets released while still queued or computing; their work is dropped.
    var cancelled: Set<String> = []
    /// The pull running now, by ticket; a release cancels it.
    var pulling: [String: Task<TransferStats, any Error>] = [:]
    /// Tickets released while their pull ran; their blocks are freed when it returns.
    var releasedWhilePulling: Set<String> = []
    var queued = 0
    let prefillOrders: AsyncStream<PrefillOrder>.Continuation
    let prefillQueue: AsyncStream<PrefillOrder>
    let pullOrders: AsyncStream<PullOrder>.Continuation
    let pullQueue: AsyncStream<PullOrder>

    struct Hold {
        var blocks: [Int]
        var until: ContinuousClock.Instant?
        /// The data-plane grant of the blocks to the decode worker (prefill), revoked before they are freed.
        var grant: UInt64?
    }

    public init(configuration: SimulatedWorkerConfiguration, pool: LocalPool, session: WorkerSession, puller: KVPuller, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.session = session
        self.puller = puller
        self.logger = logger
        allocator = BlockAllocator(capacity: pool.layout.numBlocks, shuffleSeed: configuration.shuffleSeed)
        (prefillQueue, prefillOrders) = AsyncStream.makeStream(of: PrefillOrder.self)
        (pullQueue, pullOrders) = AsyncStream.makeStream(of: PullOrder.self)
    }

    /// The load reported in heartbeats.
    public func load() -> WorkerLoad { WorkerLoad(freeBlocks: allocator.freeCount, queueDepth: queued) }

    /// Handles one instruction from the coordinator.
    public func handle(_ instruction: WorkerInstruction) async {
        switch instruction {
        case .registered:
            logger.info("registered with the coordinator")
        case let .peerUp(peer):
            await puller.peers.peerUp(peer)
        case let .peerDown(identity, reason):
            await puller.peers.peerDown(identity, reason: reason)
        case let .prefill(order):
            queued += 1
            prefillOrders.yield(order)
        case let .reserve(ticket, blocks):
            reserve(ticket: ticket, blocks: blocks)
        case let .pull(order):
            guard reserved[order.ticket] == order.destinationBlocks else {
                session.report(
                    .transferFailed(reason: KVConnectorError.unreservedDestination(ticket: order.ticket).description), ticket: order.ticket)
                return
            }
            queued += 1
            pullOrders.yield(order)
        case let .release(ticket, reason):
            await release(ticket: ticket, reason: reason)
        case let .rejected(ticket, code, message):
            logger.warning("coordinator rejected a report", metadata: ["ticket": "\(ticket)", "code": "\(code)", "message": "\(message)"])
        }
    }

    /// Runs the compute, transfer and hold-expiry loops until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.prefillLoop() }
            group.addTask { await self.pullLoop() }
            group.addTask { await self.expiryLoop() }
        }
    }

    func release(ticket: String, reason: String) async {
        if let pull = pulling[ticket] {
            // The READ may still be writing into the reserved blocks: they are freed once the pull has stopped.
            releasedWhilePulling.insert(ticket)
            pull.cancel()
        } else if let blocks = reserved.removeValue(forKey: ticket) {
            allocator.release(blocks)
        }
        if let hold = holds.removeValue(forKey: ticket) {
            await free(hold)
        } else if configuration.role == .prefill {
            cancelled.insert(ticket)
        }
        logger.debug("released", metadata: ["ticket": "\(ticket)", "reason": "\(reason)"])
    }

    /// Frees a hold's blocks once no peer can reach them: its grant is revoked first, which waits for requests
    /// being served under it.
    private func free(_ hold: Hold) async {
        if let grant = hold.grant { await puller.transport.revoke(grant) }
        allocator.release(hold.blocks)
    }

    private func expiryLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
            let now = ContinuousClock.now
            for (ticket, hold) in holds {
                if let until = hold.until, until <= now, holds.removeValue(forKey: ticket) != nil {
                    await free(hold)
                    if configuration.role == .prefill {
                        logger.warning("lease expired before decode confirmed; blocks freed", metadata: ["ticket": "\(ticket)"])
                    }
                }
            }
        }
    }
}
