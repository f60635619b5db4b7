import HandoffCore
import HandoffUCX
import Testing

@testable import HandoffDataPlane

@Suite("Automatic transport selection")
struct AutoTransportTests {
    static let tcp = TCPTransport.Configuration(listenHost: "127.0.0.1", streams: 2, batchBytes: 16 << 10)

    static func plan(_ layout: KVLayout) throws -> (TransferPlan, [Int], [Int]) {
        var generator = SplitMix64(seed: 5)
        let sources = Array((0..<64).shuffled(using: &generator).prefix(48))
        let destinations = Array((0..<64).shuffled(using: &generator).prefix(48))
        return (
            try TransferPlan(
                sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout), sources,
            destinations
        )
    }

    @Test("two auto peers use UCX, byte-exactly")
    func autoPeersUseUCX() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 64)
        let fixture = try await TransferFixture.make(
            prefill: try AutoTransport(tcp: Self.tcp), decode: try AutoTransport(tcp: Self.tcp), layout: layout)
        let (plan, sources, destinations) = try Self.plan(layout)
        let report = try await fixture.run(plan, .read)
        #expect(report.transport == "ucx" && report.fallback == nil)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        #expect((fixture.decode as? AutoTransport)?.fallbacks.isEmpty == true)
        await fixture.shutdown()
    }

    @Test(
        "a peer without UCX is reached over native TCP, and the fallback is counted",
        arguments: TransferOperation.allCases)
    func peerWithoutUCXGetsTCP(operation: TransferOperation) async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 64)
        let auto = try AutoTransport(tcp: Self.tcp)
        let plain = try TCPTransport(configuration: Self.tcp)
        // READ: the auto side pulls from the TCP-only prefill; WRITE: it pushes into the TCP-only decode.
        let fixture =
            operation == .read
            ? try await TransferFixture.make(prefill: plain, decode: auto, layout: layout)
            : try await TransferFixture.make(prefill: auto, decode: plain, layout: layout)
        let (plan, sources, destinations) = try Self.plan(layout)
        let report = try await fixture.run(plan, operation)
        #expect(report.transport == "tcp" && report.fallback == .peerWithoutUCX)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        #expect(auto.fallbacks == ["peer_without_ucx": 1])
        await fixture.shutdown()
    }

    @Test("a UCX endpoint that cannot come up falls back to TCP and the transfer completes")
    func failingUCXEndpointFallsBack() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 64)
        let prefill = try AutoTransport(tcp: Self.tcp)
        let decode = try AutoTransport(tcp: Self.tcp)
        let fixture = try await TransferFixture.make(prefill: prefill, decode: decode, layout: layout)
        var descriptor = try prefill.descriptor(of: fixture.sourcePool)
        // Make the UCX offer unusable on this side (a memory type this UCX cannot reach); the TCP offer stays.
        var offers = try AutoOffers.decode(descriptor.transportAddress)
        let ucxIndex = try #require(offers.firstIndex { $0.transport == "ucx" })
        offers[ucxIndex].memoryType = .cuda
        descriptor.transportAddress = AutoOffers.encode(offers)
        let peer = try await decode.connect(to: descriptor)
        let (plan, sources, destinations) = try Self.plan(layout)
        let report = try await decode.execute(
            plan, .read, local: fixture.destinationPool, remote: peer, options: .init())
        #expect(report.transport == "tcp" && report.fallback == .ucxEndpoint)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        #expect(decode.fallbacks == ["ucx_endpoint": 1])
        await fixture.shutdown()
    }
}
