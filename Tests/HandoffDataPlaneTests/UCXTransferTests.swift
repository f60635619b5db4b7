import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Testing

/// UCX transport lists the suites run over: UCX's own choice on one host (shared memory) and plain TCP.
let ucxTransportLists: [[String]?] = [nil, ["tcp"]]

@Suite("UCX transfers in one process")
struct UCXTransferTests {
    @Test("by default UCX's tcp transport is left out: with shared memory ruled out, UCX cannot reach a peer")
    func defaultTransportsLeaveOutTCP() async throws {
        #expect(UCXTransport.Configuration().effectiveTransports(environment: [:]) == ["^tcp"])
        #expect(UCXTransport.Configuration().effectiveTransports(environment: ["UCX_TLS": "tcp"]) == nil)
        #expect(UCXTransport.Configuration(transports: ["tcp"]).effectiveTransports(environment: [:]) == ["tcp"])
        // Peer-failure handling rules out UCX 1.13's shared memory; what is left for a peer here is TCP, or RDMA
        // loopback where there is an RDMA device.
        func fixture(_ transports: [String]?) async throws -> TransferFixture {
            let configuration = UCXTransport.Configuration(
                transports: transports, connectTimeout: .seconds(5), errorHandling: .peer)
            return try await TransferFixture.make(
                prefill: try UCXTransport(configuration: configuration),
                decode: try UCXTransport(configuration: configuration),
                layout: try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 4))
        }
        let byDefault = try await fixture(nil)
        let descriptor = try byDefault.prefill.descriptor(of: byDefault.sourcePool)
        // Unreachable here (no RDMA device); where it is reached, not over tcp.
        if let reached = try? await byDefault.decode.connect(to: descriptor) {
            #expect(!reached.lowerTransports.contains("tcp"), "\(reached.lowerTransports)")
        }
        await byDefault.shutdown()
        let named = try await fixture(["tcp"])
        let peer = try await named.decode.connect(to: try named.prefill.descriptor(of: named.sourcePool))
        #expect(peer.lowerTransports == ["tcp"])
        await named.shutdown()
    }

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
