import HandoffCore
import HandoffUCX
import Testing

@testable import HandoffDataPlane

@Suite("Per-ticket access grants")
struct AccessGrantTests {
    /// A TCP source pool that requires grants, and a decode side connected to it.
    static func fixture(
        numBlocks: Int = 16, arrangement: KVArrangement = .split
    ) async throws -> (TransferFixture, RemotePeer, KVLayout) {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: numBlocks, arrangement: arrangement)
        let fixture = try await TCPTransferTests.fixture(layout: layout)
        try fixture.prefill.requireGrants(on: fixture.sourcePool)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        return (fixture, peer, layout)
    }

    static func read(
        _ sources: [Int], into destinations: [Int], _ fixture: TransferFixture, _ peer: RemotePeer, _ layout: KVLayout,
        grant: UInt64
    ) async throws -> TransferReport {
        let plan = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout)
        return try await fixture.decode.execute(
            plan, .read, local: fixture.destinationPool, remote: peer,
            options: .init(timeout: .seconds(5), grant: grant))
    }

    /// The reason of an `refusedByPeer`, or nil for any other outcome.
    static func denial(_ body: () async throws -> TransferReport) async -> String? {
        do {
            _ = try await body()
            return nil
        } catch let DataPlaneError.refusedByPeer(_, reason) {
            return reason
        } catch {
            return nil
        }
    }

    @Test(
        "the granted blocks move byte-exactly; a block outside the grant is refused and nothing is reported done",
        arguments: KVArrangement.allCases)
    func onlyGrantedBlocksAreServed(arrangement: KVArrangement) async throws {
        let (fixture, peer, layout) = try await Self.fixture(arrangement: arrangement)
        let grant = AccessGrant(pool: fixture.sourcePool, operation: .read, blocks: [3, 5, 7])
        try fixture.prefill.grant(grant)

        _ = try await Self.read([3, 5, 7], into: [0, 1, 2], fixture, peer, layout, grant: grant.token)
        #expect(fixture.firstMismatch(sources: [3, 5, 7], destinations: [0, 1, 2]) == nil)

        let outside = await Self.denial {
            try await Self.read([3, 4], into: [8, 9], fixture, peer, layout, grant: grant.token)
        }
        #expect(outside?.contains("block 4") == true)
        // The neighbouring block of a granted one is as refused as a far one.
        let far = await Self.denial { try await Self.read([15], into: [10], fixture, peer, layout, grant: grant.token) }
        #expect(far?.contains("block 15") == true)
        await fixture.shutdown()
    }

    @Test("a request without a grant, under a revoked one, or of the wrong kind is refused")
    func missingRevokedAndWrongKindGrantsAreRefused() async throws {
        let (fixture, peer, layout) = try await Self.fixture()
        let grant = AccessGrant(pool: fixture.sourcePool, operation: .read, blocks: [1, 2])

        let none = await Self.denial { try await Self.read([1], into: [1], fixture, peer, layout, grant: 0) }
        #expect(none?.contains("names no grant") == true)
        let unknown = await Self.denial {
            try await Self.read([1], into: [1], fixture, peer, layout, grant: grant.token)
        }
        #expect(unknown?.contains("unknown or revoked") == true)

        try fixture.prefill.grant(grant)
        _ = try await Self.read([1, 2], into: [1, 2], fixture, peer, layout, grant: grant.token)
        await fixture.prefill.revoke(grant.token)
        let revoked = await Self.denial {
            try await Self.read([1], into: [1], fixture, peer, layout, grant: grant.token)
        }
        #expect(revoked?.contains("unknown or revoked") == true)

        // A read grant does not let the peer write the blocks.
        try fixture.prefill.grant(grant)
        let push = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        let plan = try TransferPlan(sourceBlocks: [1], destinationBlocks: [1], source: layout, destination: layout)
        let wrongKind = await Self.denial {
            try await fixture.decode.execute(
                plan, .write, local: fixture.destinationPool, remote: push,
                options: .init(timeout: .seconds(5), grant: grant.token))
        }
        #expect(wrongKind?.contains("allows read, not write") == true)
        await fixture.shutdown()
    }

    @Test("a grant of one pool opens no other pool, and an open pool still checks a grant it is shown")
    func grantsAreBoundToTheirPool() async throws {
        let (fixture, peer, layout) = try await Self.fixture()
        let other = try await fixture.prefill.allocatePool(layout, memoryType: .host)
        let otherGrant = AccessGrant(pool: other, operation: .read, blocks: Array(0..<16))
        try fixture.prefill.grant(otherGrant)
        let crossed = await Self.denial {
            try await Self.read([0], into: [0], fixture, peer, layout, grant: otherGrant.token)
        }
        #expect(crossed?.contains("is for pool \(other.id)") == true)

        // `other` is open (no requireGrants): a request without a grant reads it whole.
        let otherPeer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: other))
        _ = try await Self.read([9], into: [9], fixture, otherPeer, layout, grant: 0)
        await fixture.shutdown()
    }

    @Test(
        "revoking a grant ends a request being served under it to a peer that stopped reading", .timeLimit(.minutes(1)))
    func revokeEndsAStalledRequest() async throws {
        // 64 MiB pieces: one READ of a granted piece is far more than the socket buffers of both sides hold.
        let layout = try KVLayout(geometry: KVGeometry(layers: 1, kindsPerBlock: 2, pieceBytes: 64 << 20), numBlocks: 1)
        let server = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
        let pool = try await server.allocatePool(layout, memoryType: .host)
        try server.requireGrants(on: pool)
        let grant = AccessGrant(pool: pool, operation: .read, blocks: [0])
        try server.grant(grant)
        var keyReader = ByteReader(try server.descriptor(of: pool).regions[0].remoteKey)
        let hello = TCPWire.Hello(
            pool: try keyReader.read(UInt64.self, "pool"), key: try keyReader.read(UInt64.self, "key"), agent: 1)

        let client = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(2))
        defer { client.close() }
        try client.send(TCPWire.encode(hello), "hello")
        _ = try client.receive(TCPWire.responseHeaderBytes, "hello answer")
        let block = layout.geometry.pieceBytes
        try client.send(
            TCPWire.encode(
                TCPWire.RequestHeader(
                    kind: .read, rangeCount: 1, requestID: 1, payloadBytes: block, grant: grant.token),
                ranges: [.init(region: 0, offset: layout.offset(kind: 0, block: 0), length: block)]),
            "request")
        // The request passed its checks and is being served: the answer header comes, then data the client
        // does not read, so the server blocks sending.
        let answer = try TCPWire.decodeResponse(try client.receive(TCPWire.responseHeaderBytes, "answer"))
        try #require(answer.status == TCPWire.Status.ok.rawValue && answer.payloadBytes == block)

        await server.revoke(grant.token)  // returns: the stalled connection was ended, not waited for
        #expect(throws: TCPSocket.Failure.self) { _ = try client.receive(block, "block") }  // part of it, then the end
        await server.shutdown()
    }

    @Test("granting a block outside the pool, or a released pool, throws")
    func badGrantsThrow() async throws {
        let (fixture, _, _) = try await Self.fixture()
        #expect(throws: DataPlaneError.self) {
            try fixture.prefill.grant(AccessGrant(pool: fixture.sourcePool, operation: .read, blocks: [16]))
        }
        #expect(throws: DataPlaneError.self) {
            try fixture.prefill.grant(AccessGrant(pool: fixture.sourcePool, operation: .read, blocks: []))
        }
        await fixture.prefill.release(fixture.sourcePool)
        #expect(throws: DataPlaneError.self) {
            try fixture.prefill.grant(AccessGrant(pool: fixture.sourcePool, operation: .read, blocks: [1]))
        }
        await fixture.shutdown()
    }

    @Test("a grant covers exactly the pieces of its blocks, in both arrangements")
    func grantedBlocksMapBytesToBlocks() async throws {
        for arrangement in KVArrangement.allCases {
            let layout = try KVLayout(
                geometry: KVGeometry(layers: 2, kindsPerBlock: 2, pieceBytes: 100), numBlocks: 8,
                arrangement: arrangement)
            let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
            let pool = try await transport.allocatePool(layout, memoryType: .host)
            let granted = try GrantedBlocks(AccessGrant(pool: pool, operation: .read, blocks: [2, 3]))
            for block in 0..<8 {
                for kind in 0..<2 {
                    let offset = layout.offset(kind: kind, block: block)
                    let expected = [2, 3].contains(block) ? nil : block
                    #expect(granted.firstUngrantedBlock(offset: offset, length: 100) == expected)
                    // The last byte of the piece alone belongs to the same block.
                    #expect(granted.firstUngrantedBlock(offset: offset + 99, length: 1) == expected)
                }
            }
            // Blocks 2 and 3 are adjacent in either arrangement: one range over both is granted.
            #expect(granted.firstUngrantedBlock(offset: layout.offset(kind: 0, block: 2), length: 200) == nil)
            #expect(
                granted.firstUngrantedBlock(
                    offset: layout.offset(kind: 0, block: 2), length: arrangement == .split ? 201 : 401) == 4)
            await transport.shutdown()
        }
    }
}
