import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Testing

@Suite("UCX transport refuses bad input")
struct UCXBadInputTests {
    @Test("a plan built for other layouts is refused before anything moves")
    func planForOtherLayouts() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: nil, layout: layout)
        let bigger = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 16)
        let plan = try TransferPlan(sourceBlocks: [12], destinationBlocks: [0], source: bigger, destination: layout)
        await #expect(throws: DataPlaneError.self) { try await fixture.run(plan, .read) }
        #expect(fixture.destinationPool.firstMismatch(pattern: BlockPattern(seed: 0), moves: [(0, 0)]) != nil)
        await fixture.shutdown()
    }

    @Test("a descriptor of another transport or memory type is refused")
    func foreignDescriptor() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: nil, layout: layout)
        var descriptor = try fixture.prefill.descriptor(of: fixture.sourcePool)
        descriptor.transport = "tcp"
        await #expect(throws: DataPlaneError.incompatibleDescriptor("the pool is served by 'tcp', not 'ucx'")) {
            try await fixture.decode.connect(to: descriptor)
        }
        descriptor.transport = "ucx"
        descriptor.memoryType = .cuda
        await #expect(throws: DataPlaneError.unsupportedMemoryType(.cuda, transport: "ucx")) {
            try await fixture.decode.connect(to: descriptor)
        }
        await #expect(throws: DataPlaneError.self) { try await fixture.decode.allocatePool(layout, memoryType: .cuda) }
        await fixture.shutdown()
    }

    @Test("a peer that went away gives an error, not a hang", arguments: ucxTransportLists)
    func peerGone(transports: [String]?) async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: transports, layout: layout)
        let descriptor = try fixture.prefill.descriptor(of: fixture.sourcePool)
        await fixture.prefill.shutdown()
        let plan = try TransferPlan(
            sourceBlocks: [1, 2], destinationBlocks: [3, 4], source: layout, destination: layout)
        await #expect(throws: DataPlaneError.self) {
            let peer = try await fixture.decode.connect(to: descriptor)
            _ = try await fixture.decode.execute(
                plan, .read, local: fixture.destinationPool, remote: peer, options: .init(timeout: .seconds(5)))
        }
        await fixture.shutdown()
    }

    @Test("released pools, disconnected peers and a shut-down transport are unknown handles")
    func staleHandles() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: nil, layout: layout)
        let plan = try TransferPlan(sourceBlocks: [0], destinationBlocks: [1], source: layout, destination: layout)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        await fixture.decode.disconnect(peer)
        await #expect(throws: DataPlaneError.self) {
            try await fixture.decode.execute(
                plan, .read, local: fixture.destinationPool, remote: peer, options: .init())
        }
        await fixture.prefill.release(fixture.sourcePool)
        #expect(throws: DataPlaneError.self) { try fixture.prefill.descriptor(of: fixture.sourcePool) }
        await fixture.decode.shutdown()
        await #expect(throws: DataPlaneError.transportClosed) {
            try await fixture.decode.connect(to: PoolDescriptorTests.sample())
        }
        await fixture.prefill.shutdown()
    }

    @Test("a pool handle of another transport instance is refused, even when its id matches a local pool")
    func foreignHandles() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: nil, layout: layout)
        #expect(fixture.sourcePool.id == fixture.destinationPool.id)
        let plan = try TransferPlan(sourceBlocks: [0], destinationBlocks: [1], source: layout, destination: layout)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        await #expect(throws: DataPlaneError.self) {
            try await fixture.decode.execute(plan, .read, local: fixture.sourcePool, remote: peer, options: .init())
        }
        #expect(throws: DataPlaneError.self) { try fixture.decode.descriptor(of: fixture.sourcePool) }
        await fixture.decode.release(fixture.sourcePool)
        #expect(try fixture.prefill.descriptor(of: fixture.sourcePool).agent == fixture.prefill.agent)
        // The source pool, released through the wrong transport, still serves its own.
        _ = try await fixture.decode.execute(
            plan, .read, local: fixture.destinationPool, remote: peer, options: .init())
        #expect(fixture.firstMismatch(sources: [0], destinations: [1]) == nil)
        await fixture.shutdown()
    }

    @Test("notifications arrive, and oversized ones are refused")
    func notifications() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await TransferFixture.make(transports: nil, layout: layout)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        try await fixture.decode.notify(peer, payload: Array("released 1,2".utf8))
        var iterator = fixture.prefill.notifications.makeAsyncIterator()
        let received = await iterator.next()
        #expect(received == PeerNotification(sender: fixture.decode.agent, payload: Array("released 1,2".utf8)))
        await #expect(
            throws: DataPlaneError.notificationTooLarge(bytes: maxNotificationBytes + 1, limit: maxNotificationBytes)
        ) {
            try await fixture.decode.notify(peer, payload: [UInt8](repeating: 0, count: maxNotificationBytes + 1))
        }
        await fixture.shutdown()
    }
}
