import Foundation
import HandoffCore
import HandoffUCX
import Testing

@testable import HandoffDataPlane

@Suite("Native TCP transfers")
struct TCPTransferTests {
    /// Two TCP transports on loopback; small requests and several streams so that plans are cut and striped.
    static func fixture(layout: KVLayout, streams: Int = 3, batchBytes: Int = 8 << 10) async throws -> TransferFixture {
        let configuration = TCPTransport.Configuration(
            listenHost: "127.0.0.1", streams: streams, batchBytes: batchBytes)
        return try await TransferFixture.make(
            prefill: try TCPTransport(configuration: configuration),
            decode: try TCPTransport(configuration: configuration), layout: layout)
    }

    @Test(
        "a scattered plan moves byte-exactly, cut into requests and striped over connections",
        arguments: TransferOperation.allCases)
    func scatteredPlanIsByteExact(operation: TransferOperation) async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 256)
        let fixture = try await Self.fixture(layout: layout)
        var generator = SplitMix64(seed: 11)
        let sources = Array((0..<256).shuffled(using: &generator).prefix(200))
        let destinations = Array((0..<256).shuffled(using: &generator).prefix(200))
        let plan = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout)

        let report = try await fixture.run(plan, operation)

        #expect(report.transport == "tcp" && report.lowerTransports == ["tcp"])
        #expect(report.bytes == 200 * layout.geometry.blockBytes)
        #expect(report.ops > 3)  // several requests
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        // The connections are reused by the next transfer.
        _ = try await fixture.run(plan, operation)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        await fixture.shutdown()
    }

    @Test("a released pool is not served: the transfer fails and is never reported done")
    func releasedPoolIsNotServed() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 16)
        let fixture = try await Self.fixture(layout: layout)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        await fixture.prefill.release(fixture.sourcePool)
        let plan = try TransferPlan(
            sourceBlocks: [0, 1], destinationBlocks: [2, 3], source: layout, destination: layout)
        await #expect(throws: DataPlaneError.self) {
            try await fixture.decode.execute(
                plan, .read, local: fixture.destinationPool, remote: peer, options: .init(timeout: .seconds(5)))
        }
        await fixture.shutdown()
    }

    @Test("notifications arrive with their sender")
    func notifications() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let fixture = try await Self.fixture(layout: layout)
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        try await fixture.decode.notify(peer, payload: Array("released 1,2".utf8))
        var iterator = fixture.prefill.notifications.makeAsyncIterator()
        #expect(
            await iterator.next() == PeerNotification(sender: fixture.decode.agent, payload: Array("released 1,2".utf8))
        )
        await fixture.shutdown()
    }

    @Test(
        "a client asking for bytes outside the pool, or with the wrong key, is refused and gets nothing",
        .timeLimit(.minutes(1)))
    func hostileRequestsAreRefused() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 8)
        let server = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
        let pool = try await server.allocatePool(layout, memoryType: .host)
        let descriptor = try server.descriptor(of: pool)
        var keyReader = ByteReader(descriptor.regions[0].remoteKey)
        let poolID = try keyReader.read(UInt64.self, "pool")
        let key = try keyReader.read(UInt64.self, "key")

        func answer(hello: TCPWire.Hello, request: [UInt8]) throws -> (TCPWire.Response, String) {
            let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(2))
            defer { socket.close() }
            try socket.send(TCPWire.encode(hello), "hello")
            var response = try TCPWire.decodeResponse(try socket.receive(TCPWire.responseHeaderBytes, "answer"))
            if response.status == TCPWire.Status.ok.rawValue {
                try socket.send(request, "request")
                response = try TCPWire.decodeResponse(try socket.receive(TCPWire.responseHeaderBytes, "answer"))
            }
            let message = String(decoding: try socket.receive(response.messageBytes, "message"), as: UTF8.self)
            #expect(response.payloadBytes == 0)
            return (response, message)
        }
        let outside = TCPWire.encode(
            TCPWire.RequestHeader(kind: .read, rangeCount: 1, requestID: 9, payloadBytes: 64),
            ranges: [.init(region: 0, offset: layout.regionBytes - 32, length: 64)])
        let (refused, message) = try answer(hello: .init(pool: poolID, key: key, agent: 1), request: outside)
        #expect(refused.status == TCPWire.Status.refused.rawValue && message.contains("outside the pool"))
        let noRegion = TCPWire.encode(
            TCPWire.RequestHeader(kind: .write, rangeCount: 1, requestID: 9, payloadBytes: 16),
            ranges: [.init(region: 99, offset: 0, length: 16)])
        #expect(
            try answer(hello: .init(pool: poolID, key: key, agent: 1), request: noRegion).0.status
                == TCPWire.Status.refused.rawValue)
        let (wrongKey, keyMessage) = try answer(hello: .init(pool: poolID, key: key &+ 1, agent: 1), request: outside)
        #expect(wrongKey.status == TCPWire.Status.refused.rawValue && keyMessage.contains("no pool"))
        // An offset near the top of the address space neither wraps around nor brings the server down.
        let far = TCPWire.encode(
            TCPWire.RequestHeader(kind: .read, rangeCount: 1, requestID: 9, payloadBytes: 4096),
            ranges: [.init(region: 0, offset: Int.max - 10, length: 4096)])
        #expect(
            try answer(hello: .init(pool: poolID, key: key, agent: 1), request: far).0.status
                == TCPWire.Status.refused.rawValue)
        #expect(
            try answer(hello: .init(pool: poolID, key: key, agent: 1), request: outside).0.status
                == TCPWire.Status.refused.rawValue)
        // A client that connects and never says hello does not hold up shutdown.
        let silent = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(2))
        try await Task.sleep(for: .milliseconds(50))
        await server.shutdown()
        silent.close()
    }

    /// A fake peer on loopback that greets every client, reads its first request, then does `misbehave`.
    static func withFakePeer(
        layout: KVLayout, misbehave: @escaping @Sendable (TCPSocket, TCPWire.RequestHeader) -> Void,
        _ body: (PoolDescriptor) async throws -> Void
    ) async throws {
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let thread = Thread {
            while let client = try? listener.accept() {
                Thread {
                    defer { client.close() }
                    guard (try? client.receive(TCPWire.helloBytes, "hello")) != nil else { return }
                    try? client.send(
                        TCPWire.encode(TCPWire.Response(requestID: 0, status: 0, messageBytes: 0, payloadBytes: 0)),
                        "answer")
                    guard let bytes = try? client.receive(TCPWire.requestHeaderBytes, "request"),
                        let header = try? TCPWire.decodeRequestHeader(bytes),
                        (try? client.receive(header.rangeCount * TCPWire.rangeBytes, "ranges")) != nil
                    else { return }
                    misbehave(client, header)
                }.start()
            }
        }
        thread.start()
        var key = ByteWriter()
        key.write(UInt64(1))
        key.write(UInt64(2))
        let descriptor = PoolDescriptor(
            transport: "tcp", agent: 77, host: "fake", transportAddress: TCPEndpoints.encode([("127.0.0.1", port)]),
            memoryType: .host,
            layout: layout,
            regions: (0..<layout.regionCount).map { _ in
                .init(address: 0, length: UInt64(layout.regionBytes), remoteKey: key.bytes)
            })
        try await body(descriptor)
        listener.shutdown()
        listener.close()
    }

    @Test("a connection closed mid-answer fails the transfer with the peer's agent, never reported done")
    func connectionClosedMidTransfer() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 16)
        let misbehave: @Sendable (TCPSocket, TCPWire.RequestHeader) -> Void = { client, header in
            // Announce the whole answer, send half of it, hang up.
            let answer = TCPWire.encode(
                TCPWire.Response(
                    requestID: header.requestID, status: 0, messageBytes: 0, payloadBytes: header.payloadBytes))
            try? client.send(answer + [UInt8](repeating: 7, count: header.payloadBytes / 2), "half")
        }
        try await Self.withFakePeer(layout: layout, misbehave: misbehave) { descriptor in
            let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1", streams: 1))
            let pool = try await transport.allocatePool(layout, memoryType: .host)
            let peer = try await transport.connect(to: descriptor)
            let plan = try TransferPlan(
                sourceBlocks: Array(0..<16), destinationBlocks: Array(0..<16), source: layout, destination: layout)
            await #expect {
                _ = try await transport.execute(
                    plan, .read, local: pool, remote: peer, options: .init(timeout: .seconds(10)))
            } throws: { error in
                guard case .peerFailed(let agent, let reason) = error as? DataPlaneError else { return false }
                return agent == 77 && reason.contains("closed")
            }
            await transport.shutdown()
        }
    }

    @Test("a peer that stops answering fails the transfer at its deadline; cancelling the caller ends it at once")
    func stalledPeerTimesOutAndCancellationWorks() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 16)
        let misbehave: @Sendable (TCPSocket, TCPWire.RequestHeader) -> Void = { client, _ in
            _ = try? client.receive(1, "wait for the client to go away")
        }
        try await Self.withFakePeer(layout: layout, misbehave: misbehave) { descriptor in
            let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1", streams: 2))
            let pool = try await transport.allocatePool(layout, memoryType: .host)
            let peer = try await transport.connect(to: descriptor)
            let plan = try TransferPlan(
                sourceBlocks: Array(0..<16), destinationBlocks: Array(0..<16), source: layout, destination: layout)
            let started = ContinuousClock.now
            await #expect {
                _ = try await transport.execute(
                    plan, .read, local: pool, remote: peer, options: .init(timeout: .milliseconds(300)))
            } throws: { error in
                guard case .timedOut = error as? DataPlaneError else { return false }
                return true
            }
            // Its 300 ms deadline, not the peer's silence (the 30 s below): under 15 s even on a starved machine.
            #expect(ContinuousClock.now - started < .seconds(15))

            let task = Task {
                try await transport.execute(
                    plan, .read, local: pool, remote: peer, options: .init(timeout: .seconds(30)))
            }
            try await Task.sleep(for: .milliseconds(100))
            let cancelled = ContinuousClock.now
            task.cancel()
            await #expect {
                _ = try await task.value
            } throws: { error in
                guard case .cancelled = error as? DataPlaneError else { return false }
                return true
            }
            // At once, not at the 30 s deadline: under 15 s even when every suite beside it starves this task's
            // threads for seconds (a CI machine took 6.2 s to resume it).
            #expect(ContinuousClock.now - cancelled < .seconds(15))
            await transport.shutdown()
        }
    }

    @Test("the frame decoder turns random, truncated and oversized frames into typed errors")
    func frameDecoderRejectsHostileBytes() throws {
        var generator = SplitMix64(seed: 3)
        for size in [0, 1, 7, 16, 23, 24, 25, 32, 64] {
            for _ in 0..<200 {
                let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                _ = try? TCPWire.decodeHello(bytes)
                _ = try? TCPWire.decodeRequestHeader(bytes)
                _ = try? TCPWire.decodeResponse(bytes)
                _ = try? TCPWire.decodeRanges(
                    bytes, count: size / TCPWire.rangeBytes, payloadBytes: Int(generator.next() % 1000))
            }
        }
        let huge = TCPWire.encode(
            TCPWire.RequestHeader(kind: .read, rangeCount: TCPWire.maxRanges + 1, requestID: 1, payloadBytes: 1),
            ranges: [])
        #expect(throws: WireFormatError.self) { try TCPWire.decodeRequestHeader(huge) }
        let oversized = TCPWire.encode(
            TCPWire.RequestHeader(kind: .write, rangeCount: 1, requestID: 1, payloadBytes: TCPWire.maxPayloadBytes + 1),
            ranges: [])
        #expect(throws: WireFormatError.self) { try TCPWire.decodeRequestHeader(oversized) }
        let mismatch = TCPWire.encode(
            TCPWire.RequestHeader(kind: .read, rangeCount: 1, requestID: 1, payloadBytes: 10),
            ranges: [.init(region: 0, offset: 0, length: 11)])
        #expect(throws: WireFormatError.self) {
            try TCPWire.decodeRanges(Array(mismatch.dropFirst(TCPWire.requestHeaderBytes)), count: 1, payloadBytes: 10)
        }
        let hello = TCPWire.encode(TCPWire.Hello(pool: 1, key: 2, agent: 3))
        #expect(try TCPWire.decodeHello(hello) == TCPWire.Hello(pool: 1, key: 2, agent: 3))
        for cut in 0..<hello.count {
            #expect(throws: WireFormatError.self) { try TCPWire.decodeHello(Array(hello.prefix(cut))) }
        }
    }
}
