import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import Synchronization

/// A fake worker for control-plane load: the connector runtime with a real session with the coordinator over
/// gRPC, on `NullTransport` (no bytes move), and an engine that answers every event at once.
final class NullEngineWorker: Sendable {
    let runtime: ConnectorRuntime
    private let allocator: Mutex<BlockAllocator>

    init(id: String, role: WorkerRole, spec: KVLayoutSpec, coordinator: CoordinatorAddress) async throws {
        var configuration = ConnectorConfiguration(id: id, role: role, layout: spec, coordinator: coordinator)
        configuration.node = "bench"
        configuration.maxConcurrentPulls = 64
        runtime = try await ConnectorRuntime.start(configuration, memory: .allocate, transport: NullTransport())
        allocator = Mutex(BlockAllocator(capacity: spec.numBlocks))
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.runtime.run() }
            group.addTask {
                while let event = await self.runtime.nextEvent() { self.answer(event) }
            }
            try await group.waitForAll()
        }
    }

    private func answer(_ event: ConnectorEvent) {
        switch event {
        case .prefill(let order):
            try? runtime.prefillStarted(ticket: order.ticket)
            guard let blocks = allocate(order.ticket, order.blocks) else { return }
            if (try? runtime.prefillDone(ticket: order.ticket, blocks: blocks)) == nil { release(order.ticket) }
        case .reserve(let ticket, let count):
            guard let blocks = allocate(ticket, count) else {
                try? runtime.reserveFailed(ticket: ticket, reason: "no free blocks")
                return
            }
            if (try? runtime.reserved(ticket: ticket, blocks: blocks)) == nil { release(ticket) }
        case .loaded(let order, _):
            try? runtime.transferDone(ticket: order.ticket, verified: true)
            try? runtime.firstToken(ticket: order.ticket, decodeSeconds: 0)
            release(order.ticket)
        case .release(let ticket, _):
            release(ticket)
        case .registered, .loadFailed:
            break
        }
        runtime.updateLoad(WorkerLoad(freeBlocks: allocator.withLock { $0.freeCount }, queueDepth: 0))
    }

    private func allocate(_ ticket: String, _ count: Int) -> [Int]? {
        allocator.withLock { $0.allocate(count, for: ticket) }
    }

    private func release(_ ticket: String) {
        allocator.withLock { $0.release(ticket: ticket) }
    }
}
