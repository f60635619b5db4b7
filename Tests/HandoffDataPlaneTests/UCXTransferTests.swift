import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Testing

/// UCX transport lists the suites run over: UCX's own choice on one host (shared memory) and plain TCP.
let ucxTransportLists: [[String]?] = [nil, ["tcp"]]

@Suite("UCX transfers in one process")
struct UCXTransferTests {
    @Test("a scattered plan moves byte-exactly", arguments: ucxTransportLists, TransferOperation.allCases)
    func scatteredPlanIsByteExact(transports: [String]?, operation: TransferOperation) async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 64)
        let fixture = try await TransferFixture.make(transports: transports, layout: layout)
        var generator = SplitMix64(seed: 7)
        let sources = Array((0..<64).shuffled(using: &generator).prefix(40))
        let destinations = Array((0..<64).shuffled(using: &generator).prefix(40))
        let plan = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout)

        let report = try await fixture.run(plan, operation)

        #expect(report.bytes == 40 * layout.geometry.blockBytes)
        #expect(report.ops == plan.ops.count)
        #expect(report.transport == "ucx")
        #expect(!report.lowerTransports.isEmpty)
        if transports == ["tcp"] { #expect(report.lowerTransports.allSatisfy { $0 == "tcp" }) }
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        await fixture.shutdown()
    }

    @Test("a plan between split and fused layouts lands in the destination's arrangement")
    func splitToFused() async throws {
        let source = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 16, arrangement: .split)
        let destination = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 20, arrangement: .fused)
        let fixture = try await TransferFixture.make(transports: nil, layout: source, destinationLayout: destination)
        let sources = [3, 4, 5, 9, 0]
        let destinations = [19, 2, 3, 4, 11]
        let plan = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: source, destination: destination)
        _ = try await fixture.run(plan, .read)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        await fixture.shutdown()
    }
}
