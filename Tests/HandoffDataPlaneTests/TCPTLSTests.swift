import Foundation
import Glibc
import HandoffCore
import HandoffTestSupport
import Synchronization
import Testing

@testable import HandoffDataPlane
@testable import HandoffUCX

/// The native TCP data plane over mutual TLS (throw-away certificates made by openssl): transfers stay
/// byte-exact, and a peer without TLS, or with a certificate from another CA, gets nothing.
@Suite("Native TCP over mutual TLS")
struct TCPTLSTests {
    static let layout = try! KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 32)

    static func configuration(_ tls: DataPlaneTLS?) -> TCPTransport.Configuration {
        TCPTransport.Configuration(listenHost: "127.0.0.1", streams: 2, batchBytes: 16 << 10, tls: tls)
    }

    /// The prefill side serves with the server certificate, the decode side connects with the client one.
    static func fixture(_ certificates: TestCertificates) async throws -> TransferFixture {
        let prefill = DataPlaneTLS(
            certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey,
            trustRoots: certificates.caCertificate)
        let decode = DataPlaneTLS(
            certificateChain: certificates.clientCertificate, privateKey: certificates.clientKey,
            trustRoots: certificates.caCertificate)
        return try await TransferFixture.make(
            prefill: try TCPTransport(configuration: configuration(prefill)),
            decode: try TCPTransport(configuration: configuration(decode)), layout: layout)
    }

    static func plan() throws -> TransferPlan {
        let blocks = Array(0..<layout.numBlocks)
        return try TransferPlan(
            sourceBlocks: blocks, destinationBlocks: blocks.reversed(), source: layout, destination: layout)
    }

    /// Tries to read every block of the pool `descriptor` names with a new client transport using `tls`; the
    /// failure's description (recorded as an issue when the read succeeds), and whether the client's pool is
    /// still all zeros.
    static func readFails(
        from descriptor: PoolDescriptor, with tls: DataPlaneTLS?
    ) async -> (error: String, untouched: Bool) {
        do {
            let client = try TCPTransport(configuration: configuration(tls))
            let destination = try await client.allocatePool(layout, memoryType: .host)
            var failure = ""
            do {
                let peer = try await client.connect(to: descriptor)
                _ = try await client.execute(
                    try plan(), .read, local: destination, remote: peer, options: .init(timeout: .seconds(10)))
                Issue.record("the read succeeded")
            } catch {
                failure = "\(error)"
            }
            let untouched = destination.regions.allSatisfy { region in
                UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: region.address), count: region.length)
                    .allSatisfy { $0 == 0 }
            }
            await client.shutdown()
            return (failure, untouched)
        } catch {
            Issue.record("the client could not start: \(error)")
            return ("", false)
        }
    }

    @Test("READ, WRITE and READ again move byte-exactly over TLS")
    func transfersAreByteExact() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let fixture = try await Self.fixture(certificates)
        let blocks = Array(0..<Self.layout.numBlocks)
        for operation in [TransferOperation.read, .write, .read] {
            fixture.clearDestination()
            let report = try await fixture.run(try Self.plan(), operation)
            #expect(report.bytes == blocks.count * Self.layout.geometry.blockBytes)
            #expect(fixture.firstMismatch(sources: blocks, destinations: blocks.reversed()) == nil)
        }
        await fixture.shutdown()
    }

    @Test("what crosses the wire over TLS is not the pool's bytes; without TLS it is (the check can fail)")
    func wireCarriesNoPlaintext() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        for encrypted in [true, false] {
            let fixture =
                encrypted
                ? try await Self.fixture(certificates)
                : try await TransferFixture.make(
                    prefill: try TCPTransport(configuration: Self.configuration(nil)),
                    decode: try TCPTransport(configuration: Self.configuration(nil)), layout: Self.layout)
            let prefill = try #require(fixture.prefill as? TCPTransport)
            let relay = try TCPRelay(to: prefill.port)
            var descriptor = try fixture.prefill.descriptor(of: fixture.sourcePool)
            descriptor.transportAddress = TCPEndpoints.encode([("127.0.0.1", relay.port)])
            let peer = try await fixture.decode.connect(to: descriptor)
            _ = try await fixture.decode.execute(
                try Self.plan(), .read, local: fixture.destinationPool, remote: peer,
                options: .init(timeout: .seconds(20)))
            let blocks = Array(0..<Self.layout.numBlocks)
            #expect(fixture.firstMismatch(sources: blocks, destinations: blocks.reversed()) == nil)
            // 64 bytes from the middle of the source pool's first region: on a plaintext wire, in some stream. Copied
            // before the shutdown, which frees the pool's memory.
            let region = fixture.sourcePool.regions[0]
            let window = Data(
                bytes: try #require(UnsafeRawPointer(bitPattern: region.address)) + region.length / 2, count: 64)
            await fixture.shutdown()
            let streams = relay.stop()
            #expect(streams.map(\.count).reduce(0, +) >= Self.layout.numBlocks * Self.layout.geometry.blockBytes)
            let found = streams.contains { $0.range(of: window) != nil }
            #expect(
                found == !encrypted, encrypted ? "pool bytes crossed the wire in the clear" : "the relay saw no data")
        }
    }

    @Test("a plaintext client is refused with a message that TLS is required, and gets no byte of a pool")
    func plaintextClientIsRefused() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let fixture = try await Self.fixture(certificates)
        let descriptor = try fixture.prefill.descriptor(of: fixture.sourcePool)
        let (error, untouched) = await Self.readFails(from: descriptor, with: nil)
        #expect(error.contains("requires mutual TLS"), "\(error)")
        #expect(untouched)
        await fixture.shutdown()
    }

    @Test("a client whose certificate another CA signed, or that trusts another CA, fails the handshake")
    func strangersAreRefused() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let fixture = try await Self.fixture(certificates)
        let descriptor = try fixture.prefill.descriptor(of: fixture.sourcePool)
        let strangers = [
            DataPlaneTLS(
                certificateChain: certificates.strangerCertificate, privateKey: certificates.strangerKey,
                trustRoots: certificates.caCertificate),
            DataPlaneTLS(
                certificateChain: certificates.clientCertificate, privateKey: certificates.clientKey,
                trustRoots: certificates.otherCACertificate),
        ]
        for stranger in strangers {
            let (error, _) = await Self.readFails(from: descriptor, with: stranger)
            #expect(error.contains("TLS"), "\(error)")
        }
        // The refusals changed nothing: a trusted client still moves every byte.
        let report = try await fixture.run(try Self.plan(), .read)
        #expect(report.bytes == Self.layout.numBlocks * Self.layout.geometry.blockBytes)
        await fixture.shutdown()
    }

    @Test("TLS files that cannot be used are refused at start, with the file's name; auto leaves UCX out")
    func badFilesAndAutoWithTLS() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let missing = DataPlaneTLS(
            certificateChain: "/nonexistent/cert.pem", privateKey: certificates.serverKey,
            trustRoots: certificates.caCertificate)
        let error = #expect(throws: DataPlaneError.self) {
            try TCPTransport(configuration: Self.configuration(missing))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("/nonexistent/cert.pem"))
        let mismatched = DataPlaneTLS(
            certificateChain: certificates.serverCertificate, privateKey: certificates.clientKey,
            trustRoots: certificates.caCertificate)
        #expect(throws: DataPlaneError.self) { try TCPTransport(configuration: Self.configuration(mismatched)) }

        let tls = DataPlaneTLS(
            certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey,
            trustRoots: certificates.caCertificate)
        let auto = try AutoTransport(tcp: Self.configuration(tls))
        #expect(auto.ucx == nil)
        await auto.shutdown()
        #expect(throws: DataPlaneError.self) { try TransportSelection.ucx.make(tcp: Self.configuration(tls)) }
    }
}

/// Forwards every connection to 127.0.0.1:`target` and records what the target sends back, per connection: a
/// look at the wire between two peers.
private final class TCPRelay: Sendable {
    let port: UInt16
    private let listener: TCPSocket
    private let streams = Mutex<[Int: Data]>([:])
    private let sockets = Mutex<[TCPSocket]>([])

    init(to target: UInt16) throws {
        (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        Thread { [self] in
            var index = 0
            while let client = try? listener.accept() {
                guard let server = try? TCPSocket.connect(host: "127.0.0.1", port: target, timeout: .seconds(5))
                else { return client.close() }
                sockets.withLock { $0 += [client, server] }
                let connection = index
                index += 1
                Thread { Self.pump(from: client, to: server) }.start()
                Thread { [self] in
                    Self.pump(from: server, to: client) { chunk in
                        streams.withLock { $0[connection, default: Data()] += chunk }
                    }
                }.start()
            }
        }.start()
    }

    /// Copies until either side ends, then shuts both down.
    private static func pump(from source: TCPSocket, to sink: TCPSocket, seen: (Data) -> Void = { _ in }) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            seen(Data(buffer.prefix(count)))  // before it is passed on: the peer may be done once it has it
            guard (try? sink.send(Array(buffer.prefix(count)), "relay")) != nil else { break }
        }
        source.shutdown()
        sink.shutdown()
    }

    /// Stops accepting, ends the connections, and returns what the target sent on each.
    func stop() -> [Data] {
        listener.shutdown()
        for socket in sockets.withLock({ $0 }) { socket.shutdown() }
        return streams.withLock { Array($0.values) }
    }
}
