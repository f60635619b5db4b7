import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// Two transports in one process, a source pool filled with `BlockPattern` and an empty destination pool.
struct TransferFixture {
    let prefill: any Transport
    let decode: any Transport
    let sourcePool: LocalPool
    let destinationPool: LocalPool
    let pattern = BlockPattern(seed: 0x5EED)

    /// - Parameters:
    ///   - transports: UCX transport list for both sides (nil: the default).
    static func make(
        transports: [String]?, layout: KVLayout, destinationLayout: KVLayout? = nil
    ) async throws -> TransferFixture {
        let configuration = UCXTransport.Configuration(transports: transports)
        return try await make(
            prefill: try UCXTransport(configuration: configuration),
            decode: try UCXTransport(configuration: configuration),
            layout: layout, destinationLayout: destinationLayout)
    }

    /// Pools on two given transports.
    static func make(
        prefill: any Transport, decode: any Transport, layout: KVLayout, destinationLayout: KVLayout? = nil
    ) async throws -> TransferFixture {
        let source = try await prefill.allocatePool(layout, memoryType: .host)
        let destination = try await decode.allocatePool(destinationLayout ?? layout, memoryType: .host)
        let fixture = TransferFixture(
            prefill: prefill, decode: decode, sourcePool: source, destinationPool: destination)
        source.fill(with: fixture.pattern)
        return fixture
    }

    /// Executes `plan` from the side `operation` names: decode for READ, prefill for WRITE.
    func run(
        _ plan: TransferPlan, _ operation: TransferOperation, options: TransferOptions = TransferOptions()
    ) async throws -> TransferReport {
        switch operation {
        case .read:
            let peer = try await decode.connect(to: try prefill.descriptor(of: sourcePool))
            return try await decode.execute(plan, .read, local: destinationPool, remote: peer, options: options)
        case .write:
            let peer = try await prefill.connect(to: try decode.descriptor(of: destinationPool))
            return try await prefill.execute(plan, .write, local: sourcePool, remote: peer, options: options)
        }
    }

    /// The first destination block whose content is not its source block's, or nil.
    func firstMismatch(sources: [Int], destinations: [Int]) -> (layer: Int, source: Int, destination: Int, kind: Int)? {
        destinationPool.firstMismatch(pattern: pattern, moves: zip(sources, destinations).map { ($0, $1) })
    }

    /// Zeroes the destination pool, so that the next transfer's bytes are its own.
    func clearDestination() {
        destinationPool.zero()
    }

    func shutdown() async {
        await prefill.shutdown()
        await decode.shutdown()
    }
}
