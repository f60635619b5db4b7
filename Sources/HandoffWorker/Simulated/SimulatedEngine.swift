import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffDataPlane
import Logging

/// A stand-in for an inference engine on top of the connector runtime: a free list over the runtime's pool, a
/// prefill timing model that writes each request's deterministic content layer by layer, and a decode side that
/// verifies every pulled block, reports the first token and keeps the blocks for the rest of the generation.
///
/// It owns blocks as an engine does: from allocation until it hands them to the runtime (an answer), and again
/// from the runtime's `release`, or from the end of its own generation on decode.
public actor SimulatedEngine {
    public let configuration: SimulatedWorkerConfiguration
    let runtime: ConnectorRuntime
    let logger: Logger
    /// The free list, and the blocks of each ticket the engine or the runtime holds for it.
    var allocator: BlockAllocator
    /// Prefill tickets being computed now; a release marks them cancelled and the computation frees their blocks.
    var computing: Set<String> = []
    var cancelled: Set<String> = []
    var queued = 0
    let prefillOrders: AsyncStream<PrefillOrder>.Continuation
    let prefillQueue: AsyncStream<PrefillOrder>

    public init(configuration: SimulatedWorkerConfiguration, runtime: ConnectorRuntime, logger: Logger) {
        self.configuration = configuration
        self.runtime = runtime
        self.logger = logger
        allocator = BlockAllocator(capacity: runtime.pool.layout.numBlocks, shuffleSeed: configuration.shuffleSeed)
        // Bounded by the coordinator, which admits a worker's prefills against its free blocks.
        (prefillQueue, prefillOrders) = AsyncStream.makeStream(of: PrefillOrder.self)
    }

    var pool: LocalPool { runtime.pool }

    /// Answers the runtime's events until it stops; computes prefills one at a time beside them.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.prefillLoop() }
            while let event = await runtime.nextEvent() {
                handle(event, in: &group)
            }
            prefillOrders.finish()
        }
    }

    private func handle(_ event: ConnectorEvent, in group: inout DiscardingTaskGroup) {
        switch event {
        case .registered:
            logger.info("registered with the coordinator")
        case .prefill(let order):
            queued += 1
            prefillOrders.yield(order)
        case .reserve(let ticket, let count):
            reserve(ticket: ticket, blocks: count)
        case .loaded(let order, _):
            if verify(order) { group.addTask { await self.generate(order.ticket) } }
        case .loadFailed(let ticket, let reason, _):
            logger.warning("pull failed", metadata: ["ticket": "\(ticket)", "reason": "\(reason)"])
        case .release(let ticket, let reason):
            release(ticket: ticket, reason: reason)
        }
        publishLoad()
    }

    func release(ticket: String, reason: String) {
        if computing.contains(ticket) {
            cancelled.insert(ticket)  // the computation frees its blocks when it sees this
        } else if allocator.holds(ticket) {
            free(ticket)
        } else if configuration.role == .prefill {
            cancelled.insert(ticket)  // still queued: dropped when its turn comes
        }
        logger.debug("released", metadata: ["ticket": "\(ticket)", "reason": "\(reason)"])
    }

    func free(_ ticket: String) {
        allocator.release(ticket: ticket)
        publishLoad()
    }

    func publishLoad() {
        runtime.updateLoad(WorkerLoad(freeBlocks: allocator.freeCount, queueDepth: queued))
    }
}
