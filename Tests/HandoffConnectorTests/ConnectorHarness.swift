import HandoffClient
import HandoffConnector
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffTestSupport
import HandoffUCX
import Prometheus
import Synchronization

/// A real coordinator server on a free loopback port, for the duration of `body`; its address names the host
/// `localhost`, so the client resolves it through DNS.
func withCoordinator(
    configure: (inout CoordinatorConfiguration) -> Void = { _ in }, _ body: (CoordinatorAddress) async throws -> Void
) async throws {
    try await withCoordinatorServer(host: "localhost", configure: configure) { address, _ in try await body(address) }
}

/// An engine's own KV memory: one buffer per layer, allocated and freed by the test as an engine would.
final class EngineMemory: @unchecked Sendable {
    // @unchecked: the buffers are written by one engine task at a time and read by the data plane under the
    // runtime's grants, as any engine's KV cache is.
    let buffers: [UnsafeMutableRawBufferPointer]

    init(layout: KVLayout) {
        buffers = (0..<layout.regionCount).map { _ in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.regionBytes, alignment: 4096)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            return buffer
        }
    }

    deinit { for buffer in buffers { buffer.deallocate() } }
}

/// A minimal engine driving a `ConnectorRuntime`: prefill writes `BlockPattern(seed: contentSeed)` into the blocks
/// it allocates, decode checks every byte of the pulled blocks.
final class TestEngine: Sendable {
    let runtime: ConnectorRuntime
    let memory: EngineMemory
    private let state: Mutex<(blocks: BlockAllocator, verified: Int, mismatched: Int, pushed: Int)>
    /// Called with each prefill order before the engine answers it; returns false to leave it unanswered.
    let onPrefill: @Sendable (PrefillOrder, ConnectorRuntime) -> Bool
    /// Whether decode answers a load; false leaves every loaded ticket unconfirmed.
    let answersLoads: Bool
    /// Whether prefill pushes (push mode): it writes the KV layer by layer as soon as the ticket's push target is
    /// there, waiting up to a second for it, then hands the blocks over.
    let pushes: Bool

    static func start(
        role: WorkerRole, spec: KVLayoutSpec, coordinator: CoordinatorAddress, transport: TransportSelection,
        answersLoads: Bool = true, pushes: Bool = false, pushQuarantine: Duration = .seconds(30),
        onPrefill: @escaping @Sendable (PrefillOrder, ConnectorRuntime) -> Bool = { _, _ in true }
    ) async throws -> TestEngine {
        let memory = EngineMemory(layout: try spec.layout())
        var configuration = ConnectorConfiguration(
            id: "\(role.rawValue)-0", role: role, layout: spec, coordinator: coordinator)
        configuration.transport = transport
        configuration.tcpListenHost = "127.0.0.1"
        configuration.pushQuarantine = pushQuarantine
        let runtime = try await ConnectorRuntime.start(configuration, memory: .engine(memory.buffers))
        return TestEngine(
            runtime: runtime, memory: memory, answersLoads: answersLoads, pushes: pushes, onPrefill: onPrefill)
    }

    private init(
        runtime: ConnectorRuntime, memory: EngineMemory, answersLoads: Bool, pushes: Bool,
        onPrefill: @escaping @Sendable (PrefillOrder, ConnectorRuntime) -> Bool
    ) {
        self.runtime = runtime
        self.memory = memory
        self.answersLoads = answersLoads
        self.pushes = pushes
        self.onPrefill = onPrefill
        state = Mutex((BlockAllocator(capacity: runtime.pool.layout.numBlocks, shuffleSeed: 7), 0, 0, 0))
    }

    var verified: Int { state.withLock { $0.verified } }
    /// Tickets prefill pushed (rather than handed over for a pull).
    var pushed: Int { state.withLock { $0.pushed } }
    var mismatched: Int { state.withLock { $0.mismatched } }
    var heldTickets: Int { state.withLock { $0.blocks.ticketCount } }
    var freeBlocks: Int { state.withLock { $0.blocks.freeCount } }

    /// Runs the runtime and answers its events until the runtime stops.
    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.runtime.run() }
            group.addTask { while let event = await self.runtime.nextEvent() { self.answer(event) } }
            try await group.waitForAll()
        }
    }

    private func answer(_ event: ConnectorEvent) {
        switch event {
        case .prefill(let order):
            guard onPrefill(order, runtime), let blocks = allocate(order.ticket, order.blocks) else { return }
            write(BlockPattern(seed: order.contentSeed), into: blocks)
            if pushes {
                Task { await self.pushThenHandOver(order, blocks) }
                return
            }
            if (try? runtime.prefillDone(ticket: order.ticket, blocks: blocks)) == nil { free(order.ticket) }
        case .reserve(let ticket, let count):
            guard let blocks = allocate(ticket, count) else {
                try? runtime.reserveFailed(ticket: ticket, reason: "no free blocks")
                return
            }
            if (try? runtime.reserved(ticket: ticket, blocks: blocks)) == nil { free(ticket) }
        case .loaded(let order, _):
            guard answersLoads else { return }
            let good = matches(BlockPattern(seed: order.contentSeed), order.destinationBlocks)
            state.withLock { state in
                if good { state.verified += 1 } else { state.mismatched += 1 }
            }
            try? runtime.transferDone(ticket: order.ticket, verified: good)
            try? runtime.firstToken(ticket: order.ticket, decodeSeconds: 0.001)
            free(order.ticket)  // the "generation" ends at once
        case .release(let ticket, _):
            free(ticket)
        case .registered, .loadFailed:
            break
        }
        runtime.updateLoad(WorkerLoad(freeBlocks: freeBlocks, queueDepth: 0))
    }

    /// Push mode: writes each layer as a real engine would after computing it, once the push target is there.
    private func pushThenHandOver(_ order: PrefillOrder, _ blocks: [Int]) async {
        let deadline = ContinuousClock.now + .seconds(1)
        var layer = 0
        do {
            while layer < runtime.pool.layout.geometry.layers {
                if try runtime.pushLayers(ticket: order.ticket, blocks: blocks, through: layer) {
                    layer += 1
                } else if ContinuousClock.now > deadline {
                    break
                } else {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            if try await runtime.finishPush(ticket: order.ticket, blocks: blocks) {
                state.withLock { $0.pushed += 1 }
            }
            try runtime.prefillDone(ticket: order.ticket, blocks: blocks)
        } catch {
            free(order.ticket)  // released meanwhile (or refused): the blocks are the engine's again
        }
    }

    private func allocate(_ ticket: String, _ count: Int) -> [Int]? {
        state.withLock { $0.blocks.allocate(count, for: ticket) }
    }

    private func free(_ ticket: String) {
        state.withLock { $0.blocks.release(ticket: ticket) }
    }

    private func write(_ pattern: BlockPattern, into blocks: [Int]) {
        forEachPiece(of: blocks) { layer, kind, index, piece in
            pattern.write(layer: layer, kind: kind, block: index, into: piece)
            return true
        }
    }

    private func matches(_ pattern: BlockPattern, _ blocks: [Int]) -> Bool {
        forEachPiece(of: blocks) { layer, kind, index, piece in
            pattern.matches(layer: layer, kind: kind, block: index, piece: UnsafeRawBufferPointer(piece))
        }
    }

    /// Visits every piece of `blocks` (token order) in the engine's memory; stops at the first false.
    @discardableResult
    private func forEachPiece(
        of blocks: [Int], _ body: (_ layer: Int, _ kind: Int, _ index: Int, UnsafeMutableRawBufferPointer) -> Bool
    ) -> Bool {
        let layout = runtime.pool.layout
        for (layer, buffer) in memory.buffers.enumerated() {
            for (index, block) in blocks.enumerated() {
                for kind in 0..<layout.geometry.kindsPerBlock {
                    let offset = layout.offset(kind: kind, block: block)
                    let piece = UnsafeMutableRawBufferPointer(
                        rebasing: buffer[offset..<offset + layout.geometry.pieceBytes])
                    if !body(layer, kind, index, piece) { return false }
                }
            }
        }
        return true
    }
}
