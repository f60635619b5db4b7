import HandoffControlPlane
import HandoffCore
import HandoffDataPlane
import HandoffWorker
import Synchronization

/// A fake worker for control-plane load: a real session with the coordinator over gRPC that answers every
/// instruction at once and moves no bytes. Its descriptor names the transport "none".
final class NullEngineWorker: Sendable {
    let session: WorkerSession
    private let state: Mutex<(allocator: BlockAllocator, held: [String: [Int]])>
    private let blockBytes: Int

    init(id: String, role: WorkerRole, spec: KVLayoutSpec, coordinator: CoordinatorAddress) throws {
        let layout = try spec.layout()
        let descriptor = PoolDescriptor(
            transport: "none", agent: UInt64.random(in: 1...UInt64.max), host: HostIdentity.current, transportAddress: [],
            memoryType: .host, layout: layout,
            regions: (0..<layout.regionCount).map { _ in .init(address: 0, length: UInt64(layout.regionBytes), remoteKey: []) })
        let registration = WorkerRegistration(
            identity: WorkerIdentity(id: id, instance: UInt64.random(in: 1...UInt64.max)), role: role, layout: spec,
            descriptor: descriptor.encoded(), node: "bench", rack: "", compatibility: CompatibilityHash.of(spec),
            transports: ["none"])
        session = WorkerSession(registration: registration, coordinator: coordinator)
        state = Mutex((BlockAllocator(capacity: spec.numBlocks), [:]))
        blockBytes = layout.geometry.blockBytes
    }

    func run() async throws {
        try await session.run(
            load: { [self] in self.state.withLock { WorkerLoad(freeBlocks: $0.allocator.freeCount, queueDepth: 0) } },
            handle: { [self] instruction in handle(instruction) })
    }

    private func handle(_ instruction: WorkerInstruction) {
        switch instruction {
        case let .prefill(order):
            session.report(.prefillStarted, ticket: order.ticket)
            guard let blocks = allocate(order.ticket, order.blocks) else { return }
            session.report(.prefillDone(sourceBlocks: blocks), ticket: order.ticket)
        case let .reserve(ticket, count):
            guard let blocks = allocate(ticket, count) else {
                session.report(.transferFailed(reason: "no free blocks"), ticket: ticket)
                return
            }
            session.report(.reserved(destinationBlocks: blocks), ticket: ticket)
        case let .pull(order):
            let stats = TransferStats(
                bytes: order.destinationBlocks.count * blockBytes, ops: 0, descriptors: 0, transport: "none",
                lowerTransports: [], postSeconds: 0, completionSeconds: 0)
            session.report(.transferDone(stats, verified: true), ticket: order.ticket)
            session.report(.firstToken(decodeSeconds: 0), ticket: order.ticket)
            release(order.ticket)
        case let .release(ticket, _):
            release(ticket)
        case .registered, .peerUp, .peerDown, .rejected:
            break
        }
    }

    private func allocate(_ ticket: String, _ count: Int) -> [Int]? {
        state.withLock { state in
            guard let blocks = state.allocator.allocate(count) else { return nil }
            state.held[ticket] = blocks
            return blocks
        }
    }

    private func release(_ ticket: String) {
        state.withLock { state in
            if let blocks = state.held.removeValue(forKey: ticket) { state.allocator.release(blocks) }
        }
    }
}
