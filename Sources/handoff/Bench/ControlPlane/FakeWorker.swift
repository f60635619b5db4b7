import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffProto
import Synchronization

/// A fake worker for control-plane load that speaks the Session protocol itself: it registers, heartbeats at the
/// interval the coordinator asks for (1 s by default, as in production), and answers every instruction at once
/// with the report a worker would send — blocks from its own allocator, no bytes moved — so that the benchmark
/// measures the coordinator, not engines.
final class FakeWorker: Sendable {
    let registration: WorkerRegistration
    private let blockBytes: Int
    private let allocator: Mutex<BlockAllocator>
    private let messages = BatchingOutbox<Handoff_V1_WorkerMessage>()

    init(id: String, role: WorkerRole, spec: KVLayoutSpec, node: String) throws {
        let layout = try spec.layout()
        let descriptor = PoolDescriptor(
            transport: "none", agent: UInt64.random(in: 1...UInt64.max), host: "bench", transportAddress: [],
            memoryType: .host, layout: layout,
            regions: (0..<layout.regionCount).map { _ in
                .init(address: 4096, length: UInt64(layout.regionBytes), remoteKey: [])
            })
        registration = WorkerRegistration(
            identity: WorkerIdentity(id: id, instance: UInt64.random(in: 1...UInt64.max)), role: role, layout: spec,
            descriptor: descriptor.encoded(), node: node, rack: "", compatibility: CompatibilityHash.of(spec),
            transports: ["none"])
        blockBytes = spec.blockBytes
        allocator = Mutex(BlockAllocator(capacity: spec.numBlocks))
    }

    /// Runs the session on `client` until the coordinator ends it or the task is cancelled.
    func run(on client: Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>) async throws {
        messages.send(.with { $0.register = registration.proto })
        let request = StreamingClientRequest(of: Handoff_V1_WorkerMessage.self) { [messages] writer in
            while let batch = await messages.nextBatch() { try await writer.write(contentsOf: batch) }
        }
        defer { messages.finish() }
        try await client.session(request: request) { response in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for try await message in response.messages {
                    guard let instruction = try? WorkerInstruction(proto: message) else { continue }
                    if case .registered(let interval, _) = instruction {
                        group.addTask { try await self.heartbeat(every: interval) }
                    }
                    self.answer(instruction)
                }
                group.cancelAll()
            }
        }
    }

    private func heartbeat(every interval: Duration) async throws {
        while !Task.isCancelled {
            let free = allocator.withLock { $0.freeCount }
            messages.send(.with { $0.heartbeat = .with { $0.freeBlocks = UInt32(clamping: free) } })
            try await Task.sleep(for: interval)
        }
    }

    private func answer(_ instruction: WorkerInstruction) {
        switch instruction {
        case .prefill(let order):
            report(.prefillStarted, order.ticket)
            guard let blocks = allocate(order.ticket, order.blocks) else {
                return report(.transferFailed(reason: "no free blocks"), order.ticket)
            }
            report(.prefillDone(sourceBlocks: blocks, grant: 1), order.ticket)
            // A real prefill worker frees them when decode's pull tells it over the data plane; none runs here.
            release(order.ticket)
        case .reserve(let ticket, let count, _):
            guard let blocks = allocate(ticket, count) else {
                return report(.transferFailed(reason: "no free blocks"), ticket)
            }
            report(.reserved(destinationBlocks: blocks, grant: 1), ticket)
        case .pull(let order):
            let stats = TransferStats(
                bytes: order.destinationBlocks.count * blockBytes, ops: order.destinationBlocks.count,
                descriptors: order.destinationBlocks.count, transport: "none", lowerTransports: [], postSeconds: 0,
                completionSeconds: 0)
            report(.transferDone(stats, verified: true), order.ticket)
            report(.firstToken(decodeSeconds: 0), order.ticket)
            release(order.ticket)
        case .release(let ticket, _):
            release(ticket)
        case .registered, .peerUp, .peerDown, .pushTarget, .rejected:
            break
        }
    }

    private func report(_ event: ProgressEvent, _ ticket: String) {
        messages.send(.with { $0.report = event.proto(ticket: ticket) })
    }

    private func allocate(_ ticket: String, _ count: Int) -> [Int]? {
        allocator.withLock { $0.allocate(count, for: ticket) }
    }

    private func release(_ ticket: String) {
        allocator.withLock { $0.release(ticket: ticket) }
    }
}
