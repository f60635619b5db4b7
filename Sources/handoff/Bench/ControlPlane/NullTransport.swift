import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Synchronization

/// The control-plane benchmark's data plane: pools without memory, transfers that complete at once and move no
/// bytes, so that the coordinator's cost is all that is measured. Never used for KV.
final class NullTransport: Transport {
    let name = "none"
    let agent = UInt64.random(in: 1...UInt64.max)
    let notifications = AsyncStream<PeerNotification> { $0.finish() }
    private let nextID = Atomic<UInt64>(0)

    func allocatePool(_ layout: KVLayout, memoryType: MemoryType) async throws(DataPlaneError) -> LocalPool {
        LocalPool(
            id: newID(), layout: layout, memoryType: memoryType,
            regions: Array(repeating: (0, layout.regionBytes), count: layout.regionCount))
    }

    func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType
    ) async throws(DataPlaneError) -> LocalPool {
        try await allocatePool(layout, memoryType: memoryType)
    }

    func requireGrants(on pool: LocalPool) throws(DataPlaneError) {}
    func grant(_ grant: AccessGrant) throws(DataPlaneError) {}
    func revoke(_ token: UInt64) async {}

    func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor {
        PoolDescriptor(
            transport: name, agent: agent, host: "bench", transportAddress: [], memoryType: pool.memoryType,
            layout: pool.layout,
            regions: (0..<pool.layout.regionCount).map { _ in
                .init(address: 0, length: UInt64(pool.layout.regionBytes), remoteKey: [])
            })
    }

    func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer {
        RemotePeer(id: newID(), descriptor: descriptor, lowerTransports: [])
    }

    func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport {
        TransferReport(
            operation: operation, bytes: plan.totalBytes, ops: 0, pieces: plan.pieceCount, transport: name,
            lowerTransports: [],
            postSeconds: 0, completionSeconds: 0, opLatencyNanoseconds: LatencySummary.histogram())
    }

    func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError) {}
    func disconnect(_ remote: RemotePeer) async {}
    func release(_ pool: LocalPool) async {}
    func shutdown() async {}

    private func newID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).newValue }
}
