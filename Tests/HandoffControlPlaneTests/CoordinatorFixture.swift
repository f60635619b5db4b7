import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Synchronization

/// A coordinator on a hand-driven clock with workers whose instructions land in inspectable mailboxes.
struct CoordinatorFixture {
    let coordinator: Coordinator
    let clock: ManualClock
    static let spec = KVLayoutSpec(preset: .tiny, blockTokens: 16, arrangement: .split, numBlocks: 64)

    init(
        metrics: CoordinatorMetrics = CoordinatorMetrics(),
        configure: (inout CoordinatorConfiguration) -> Void = { _ in }
    ) {
        let clock = ManualClock()
        var configuration = CoordinatorConfiguration()
        configure(&configuration)
        self.clock = clock
        coordinator = Coordinator(configuration: configuration, metrics: metrics, clock: { clock.now })
    }

    /// Registers a worker and returns its mailbox.
    @discardableResult
    func register(
        _ id: String, _ role: WorkerRole, instance: UInt64 = 1, spec: KVLayoutSpec = Self.spec, node: String = ""
    )
        async throws -> Mailbox
    {
        let mailbox = Mailbox(identity: WorkerIdentity(id: id, instance: instance))
        try await coordinator.register(
            Self.registration(id, role, instance: instance, spec: spec, node: node), outbox: mailbox.outbox)
        return mailbox
    }

    /// A prefill worker p0 and a decode worker d0, and a one-block request whose pull has been sent: decode
    /// reserved block 2, prefill filled `sourceBlock`.
    func transferringTicket(
        requestID: String = "r1", sourceBlock: Int = 1
    ) async throws -> (prefill: Mailbox, decode: Mailbox, ticket: String) {
        let prefill = try await register("p0", .prefill)
        let decode = try await register("d0", .decode)
        let ticket = try await coordinator.admit(AdmitRequest(requestID: requestID, model: "tiny", promptTokens: 16))
            .ticket
        try await coordinator.report(.reserved(destinationBlocks: [2]), ticket: ticket, from: decode.identity)
        try await coordinator.report(.prefillDone(sourceBlocks: [sourceBlock]), ticket: ticket, from: prefill.identity)
        return (prefill, decode, ticket)
    }

    static func registration(
        _ id: String, _ role: WorkerRole, instance: UInt64 = 1, spec: KVLayoutSpec = Self.spec, node: String = ""
    )
        -> WorkerRegistration
    {
        let layout = try! spec.layout()
        let descriptor = PoolDescriptor(
            transport: "test", agent: instance, host: "host", transportAddress: [], memoryType: .host, layout: layout,
            regions: (0..<layout.regionCount).map { _ in
                .init(address: 4096, length: UInt64(layout.regionBytes), remoteKey: [])
            })
        return WorkerRegistration(
            identity: WorkerIdentity(id: id, instance: instance), role: role, layout: spec,
            descriptor: descriptor.encoded(),
            node: node, rack: "", compatibility: CompatibilityHash.of(spec), transports: ["test"])
    }

    static func stats(blocks: Int, seconds: Double = 0.004) -> TransferStats {
        TransferStats(
            bytes: blocks * spec.blockBytes, ops: 2, descriptors: blocks * 4, transport: "test",
            lowerTransports: ["shm"],
            postSeconds: seconds / 4, completionSeconds: seconds * 3 / 4)
    }
}

/// Monotonic nanoseconds that only move when a test says so.
final class ManualClock: Sendable {
    private let value = Mutex<UInt64>(1_000_000_000)
    var now: UInt64 { value.withLock { $0 } }
    func advance(milliseconds: UInt64) { value.withLock { $0 += milliseconds * 1_000_000 } }
}

/// Collects the instructions sent to one worker.
final class Mailbox: Sendable {
    let identity: WorkerIdentity
    let outbox = BatchingOutbox<WorkerInstruction>()
    private let received = Mutex<[WorkerInstruction]>([])

    init(identity: WorkerIdentity) { self.identity = identity }

    /// Everything received so far (takes what is queued).
    func drain() async -> [WorkerInstruction] {
        outbox.send(.rejected(ticket: "__marker__", code: 0, message: ""))
        while let batch = await outbox.nextBatch() {
            let arrived = batch.filter {
                if case .rejected(let ticket, _, _) = $0 { ticket != "__marker__" } else { true }
            }
            received.withLock { $0.append(contentsOf: arrived) }
            if arrived.count < batch.count { break }
        }
        return received.withLock { $0 }
    }

    func prefillOrders() async -> [PrefillOrder] {
        await drain().compactMap { if case .prefill(let order) = $0 { order } else { nil } }
    }

    func pulls() async -> [PullOrder] {
        await drain().compactMap { if case .pull(let order) = $0 { order } else { nil } }
    }

    func pushTargets() async -> [PushTarget] {
        await drain().compactMap { if case .pushTarget(let target) = $0 { target } else { nil } }
    }

    func reserves() async -> [(ticket: String, push: Bool)] {
        await drain().compactMap { if case .reserve(let ticket, _, let push) = $0 { (ticket, push) } else { nil } }
    }

    func releases() async -> [String] {
        await drain().compactMap { if case .release(let ticket, _) = $0 { ticket } else { nil } }
    }

    func peersUp() async -> [WorkerIdentity] {
        await drain().compactMap { if case .peerUp(let peer) = $0 { peer.identity } else { nil } }
    }
}
