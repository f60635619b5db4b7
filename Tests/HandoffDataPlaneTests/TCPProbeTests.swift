import Foundation
import Glibc
import HandoffCore
import HandoffUCX
import Testing

@testable import HandoffDataPlane

/// The native TCP data plane's answers to `DataPlaneProbe`s, and that probes leave transfers on the same port
/// untouched.
@Suite struct TCPProbeTests {
    /// A connection to `transport`'s port that has sent the probe greeting.
    private struct ProbeConnection {
        let socket: TCPSocket

        init(_ transport: TCPTransport) throws {
            socket = try TCPSocket.connect(host: "127.0.0.1", port: transport.port, timeout: .seconds(5))
            socket.setReceiveTimeout(.seconds(10))
            try socket.send(DataPlaneProbe.greeting, "greeting")
        }

        func send(_ line: String) throws { try socket.send(Array((line + "\n").utf8), "line") }

        /// The next line; nil when the server closed the connection. A timeout fails the test.
        func line() -> String? {
            var bytes: [UInt8] = []
            while true {
                do {
                    let byte = try socket.receive(1, "line")[0]
                    if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
                    bytes.append(byte)
                } catch {
                    if error.code != TCPSocket.Failure.closedCode || !bytes.isEmpty {
                        Issue.record("no line: \(error)")
                    }
                    return nil
                }
            }
        }
    }

    @Test func withoutAnAnswerTheProbeIsRefusedWithAMessage() async throws {
        let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
        let connection = try ProbeConnection(transport)
        defer { connection.socket.close() }
        #expect(connection.line()?.hasPrefix("ERROR this data plane does not answer topology probes") == true)
        #expect(connection.line() == nil, "the connection closes after a refusal")
        await transport.shutdown()
    }

    @Test func aProbeIsDescribedPingedAndStreamedToAndBadLinesAreRefused() async throws {
        let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
        transport.answerProbes { #"{"host":"test"}"# }
        let connection = try ProbeConnection(transport)
        #expect(connection.line() == #"TOPOLOGY {"host":"test"}"#)
        try connection.send("PING 7")
        #expect(connection.line() == "PONG 7")
        try connection.send("STREAM 3000000")
        #expect(connection.line() == "STREAM 3000000")
        let streamed = try connection.socket.receive(3_000_000, "stream")
        #expect(streamed.count == 3_000_000)
        // One probe streams at most maxStreamBytes in all.
        let left = DataPlaneProbe.maxStreamBytes - 3_000_000
        try connection.send("STREAM \(left + 1)")
        #expect(connection.line()?.hasPrefix("ERROR STREAM takes 1 to \(left) bytes") == true)
        #expect(connection.line() == nil, "the connection closes after a refusal")
        connection.socket.close()

        let long = try ProbeConnection(transport)
        defer { long.socket.close() }
        #expect(long.line()?.hasPrefix("TOPOLOGY ") == true)
        try long.send(String(repeating: "P", count: 100))
        #expect(long.line()?.hasPrefix("ERROR a probe line is at most 64 bytes") == true)

        let unknown = try ProbeConnection(transport)
        defer { unknown.socket.close() }
        _ = unknown.line()
        try unknown.send("HELLO")
        #expect(unknown.line()?.hasPrefix("ERROR expected PING") == true)
        await transport.shutdown()
    }

    @Test func probesBeyondTheLimitAreRefusedAsBusyAndAnsweredOnceOthersEnd() async throws {
        let transport = try TCPTransport(configuration: .init(listenHost: "127.0.0.1"))
        transport.answerProbes { "{}" }
        let held = try (0..<DataPlaneProbe.maxConcurrentProbes).map { _ in try ProbeConnection(transport) }
        for connection in held { #expect(connection.line() == "TOPOLOGY {}") }
        let refused = try ProbeConnection(transport)
        #expect(refused.line()?.hasPrefix("ERROR busy") == true)
        refused.socket.close()
        try held[0].send("QUIT")
        #expect(held[0].line() == nil, "QUIT ends the session")
        held[0].socket.close()
        // The freed slot is given back once the session has ended on the server's thread.
        var answered = false
        for _ in 0..<100 where !answered {
            let again = try ProbeConnection(transport)
            answered = again.line() == "TOPOLOGY {}"
            again.socket.close()
            if !answered { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(answered)
        for connection in held.dropFirst() { connection.socket.close() }
        await transport.shutdown()
    }

    @Test func transfersOnAProbedPortStillMoveAndVerify() async throws {
        let layout = try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 32)
        let fixture = try await TCPTransferTests.fixture(layout: layout)
        let server = try #require(fixture.prefill as? TCPTransport)
        server.answerProbes { "{}" }
        let probe = try ProbeConnection(server)  // a probe open on the same port while transfers run
        #expect(probe.line() == "TOPOLOGY {}")
        let sources = Array(0..<16)
        let destinations = Array(16..<32)
        let plan = try TransferPlan(
            sourceBlocks: sources, destinationBlocks: destinations, source: layout, destination: layout)
        let report = try await fixture.run(plan, .read)
        #expect(report.bytes == 16 * layout.geometry.blockBytes)
        #expect(fixture.firstMismatch(sources: sources, destinations: destinations) == nil)
        try probe.send("PING 1")
        #expect(probe.line() == "PONG 1")
        try probe.send("QUIT")
        #expect(probe.line() == nil)
        probe.socket.close()
        await fixture.shutdown()
    }
}
