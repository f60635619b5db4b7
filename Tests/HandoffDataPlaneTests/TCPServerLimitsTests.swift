import Foundation
import Glibc
import HandoffCore
import HandoffTestSupport
import Testing

@testable import HandoffDataPlane

/// The native TCP data plane's serving side against clients that hold connections open without speaking, stall
/// mid-request, flood it with connections or notifications: each is cut off by its limit, and real transfers
/// alongside still complete byte-exactly.
@Suite("Native TCP server limits")
struct TCPServerLimitsTests {
    static let layout = try! KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 32)

    /// Two TCP transports on loopback whose serving sides have `limits`.
    static func fixture(_ limits: TCPServerLimits) async throws -> TransferFixture {
        let configuration = TCPTransport.Configuration(
            listenHost: "127.0.0.1", streams: 2, batchBytes: 16 << 10, limits: limits)
        return try await TransferFixture.make(
            prefill: try TCPTransport(configuration: configuration),
            decode: try TCPTransport(configuration: configuration), layout: layout)
    }

    /// Reads every block of the source pool into the destination pool, over `peer` or a new connection to the
    /// prefill side, and checks every byte.
    static func transferAll(_ fixture: TransferFixture, over peer: RemotePeer? = nil) async throws {
        let blocks = Array(0..<layout.numBlocks)
        let plan = try TransferPlan(
            sourceBlocks: blocks, destinationBlocks: blocks.reversed(), source: layout, destination: layout)
        var remote = peer
        if remote == nil {
            remote = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        }
        let report = try await fixture.decode.execute(
            plan, .read, local: fixture.destinationPool, remote: remote!, options: .init(timeout: .seconds(20)))
        #expect(report.bytes == blocks.count * layout.geometry.blockBytes)
        #expect(fixture.firstMismatch(sources: blocks, destinations: blocks.reversed()) == nil)
    }

    /// The hello that opens a connection to the prefill side's source pool.
    static func hello(_ fixture: TransferFixture) throws -> TCPWire.Hello {
        var reader = ByteReader(try fixture.prefill.descriptor(of: fixture.sourcePool).regions[0].remoteKey)
        return TCPWire.Hello(
            pool: try reader.read(UInt64.self, "pool"), key: try reader.read(UInt64.self, "key"), agent: 5)
    }

    static func port(_ transport: any Transport) -> UInt16 { (transport as! TCPTransport).port }

    static func connect(_ port: UInt16) throws -> TCPSocket {
        try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
    }

    /// A connection that said `hello` and was answered; returns the answer's status and message.
    static func greet(
        _ port: UInt16, _ hello: TCPWire.Hello
    ) throws -> (socket: TCPSocket, status: UInt32, message: String) {
        let socket = try connect(port)
        socket.setReceiveTimeout(.seconds(10))
        try socket.send(TCPWire.encode(hello), "hello")
        let answer = try TCPWire.decodeResponse(try socket.receive(TCPWire.responseHeaderBytes, "hello answer"))
        let message = String(decoding: try socket.receive(answer.messageBytes, "message"), as: UTF8.self)
        return (socket, answer.status, message)
    }

    static func threadCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
    }

    @Test(
        "200 connections that never say hello take no thread; a transfer beside them is byte-exact; each is closed at the hello timeout",
        .timeLimit(.minutes(1)))
    func silentConnectionsTakeNoThread() async throws {
        let fixture = try await Self.fixture(.init(maxPendingHellos: 1000, helloTimeout: .seconds(3)))
        let threadsBefore = try Self.threadCount()
        let silent = try (0..<200).map { _ in try Self.connect(Self.port(fixture.prefill)) }
        try await Task.sleep(for: .milliseconds(200))
        // The old server started a thread per connection: +200.
        #expect(try Self.threadCount() - threadsBefore < 60)
        try await Self.transferAll(fixture)
        let closedAfter = await timeUntilClosed(fd: silent[0].fd, limit: .seconds(10))
        #expect(closedAfter != nil && closedAfter! < .seconds(4))
        for socket in silent { socket.close() }
        await fixture.shutdown()
    }

    @Test("past maxPendingHellos, the connection waiting longest is closed for the new one", .timeLimit(.minutes(1)))
    func pendingHellosAreCapped() async throws {
        let fixture = try await Self.fixture(.init(maxPendingHellos: 4, helloTimeout: .seconds(60)))
        let port = Self.port(fixture.prefill)
        let silent = try (0..<4).map { _ in try Self.connect(port) }
        try await Task.sleep(for: .milliseconds(100))
        let newcomer = try Self.connect(port)
        let oldestClosed = await timeUntilClosed(fd: silent[0].fd, limit: .seconds(5))
        #expect(oldestClosed != nil)
        #expect(await timeUntilClosed(fd: silent[3].fd, limit: .milliseconds(200)) == nil)
        // Silent connections at the cap do not lock out a peer that speaks.
        try await Self.transferAll(fixture)
        for socket in silent + [newcomer] { socket.close() }
        await fixture.shutdown()
    }

    @Test("a client that stalls mid-request is closed at the request timeout", .timeLimit(.minutes(1)))
    func stalledRequestIsClosed() async throws {
        let fixture = try await Self.fixture(.init(requestTimeout: .milliseconds(500)))
        let (socket, status, _) = try Self.greet(Self.port(fixture.prefill), try Self.hello(fixture))
        #expect(status == TCPWire.Status.ok.rawValue)
        // Announces 16,384 ranges and sends one.
        let header = TCPWire.RequestHeader(
            kind: .read, rangeCount: TCPWire.maxRanges, requestID: 1, payloadBytes: TCPWire.maxRanges * 64)
        try socket.send(
            Array(TCPWire.encode(header, ranges: [.init(region: 0, offset: 0, length: 64)]).prefix(48)), "request")
        let closedAfter = await timeUntilClosed(fd: socket.fd, limit: .seconds(10))
        #expect(closedAfter != nil && closedAfter! < .seconds(3))
        socket.close()
        await fixture.shutdown()
    }

    @Test(
        "an idle connection is closed at the idle timeout, and a client's pooled connections survive it",
        .timeLimit(.minutes(1)))
    func idleConnectionIsClosedAndClientsReconnect() async throws {
        let fixture = try await Self.fixture(.init(idleTimeout: .seconds(3)))
        let (socket, status, _) = try Self.greet(Self.port(fixture.prefill), try Self.hello(fixture))
        #expect(status == TCPWire.Status.ok.rawValue)
        let closedAfter = await timeUntilClosed(fd: socket.fd, limit: .seconds(10))
        #expect(closedAfter != nil && closedAfter! < .seconds(8))
        socket.close()
        // The decode side keeps its connections to a peer between transfers; the server closes them meanwhile.
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        try await Self.transferAll(fixture, over: peer)
        try await Task.sleep(for: .seconds(7))  // well past the idle timeout, even on a loaded machine
        try await Self.transferAll(fixture, over: peer)
        await fixture.shutdown()
    }

    @Test("past maxConnections a hello is refused as busy, and a freed slot is served again", .timeLimit(.minutes(1)))
    func connectionsAreCapped() async throws {
        let fixture = try await Self.fixture(.init(maxConnections: 2))
        let port = Self.port(fixture.prefill)
        let hello = try Self.hello(fixture)
        let first = try Self.greet(port, hello)
        let second = try Self.greet(port, hello)
        #expect(first.status == TCPWire.Status.ok.rawValue && second.status == TCPWire.Status.ok.rawValue)
        let third = try Self.greet(port, hello)
        #expect(third.status == TCPWire.Status.refused.rawValue && third.message.contains("busy"))
        third.socket.close()
        first.socket.close()
        // The server notices the close on its serving thread; retry until the slot is free.
        let deadline = ContinuousClock.now + .seconds(5)
        var fourth = try Self.greet(port, hello)
        while fourth.status != TCPWire.Status.ok.rawValue && ContinuousClock.now < deadline {
            fourth.socket.close()
            try await Task.sleep(for: .milliseconds(20))
            fourth = try Self.greet(port, hello)
        }
        #expect(fourth.status == TCPWire.Status.ok.rawValue)
        for socket in [second.socket, fourth.socket] { socket.close() }
        await fixture.shutdown()
    }

    @Test("notifications nobody reads are refused past maxQueuedNotifications; reading one makes room")
    func notificationsAreCapped() async throws {
        let fixture = try await Self.fixture(.init(maxQueuedNotifications: 4))
        let peer = try await fixture.decode.connect(to: try fixture.prefill.descriptor(of: fixture.sourcePool))
        let payload = [UInt8](repeating: 1, count: maxNotificationBytes)
        for _ in 0..<4 { try await fixture.decode.notify(peer, payload: payload) }
        await #expect {
            try await fixture.decode.notify(peer, payload: payload)
        } throws: { error in
            guard case .peerFailed(_, let reason) = error as? DataPlaneError else { return false }
            return reason.contains("4 notifications are waiting")
        }
        var iterator = fixture.prefill.notifications.makeAsyncIterator()
        #expect(await iterator.next()?.payload == payload)
        try await fixture.decode.notify(peer, payload: Array("after".utf8))
        await fixture.shutdown()
    }
}
