import Foundation
import GRPCCore
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import HandoffTestSupport
import Prometheus
import Testing

@testable import HandoffDataPlane

/// The coordinator's gRPC port with TLS and mutual TLS (throw-away certificates made by openssl), and its limits
/// on connections that make no call.
@Suite struct CoordinatorTLSTests {
    /// Lists the workers through `address`; throws when the call cannot be made within 30 s (a refused client fails
    /// at its handshake, long before; the limit only bounds a test on a machine too loaded to answer).
    private func listWorkers(_ address: CoordinatorAddress) async throws -> Int {
        var options = CallOptions.defaults
        options.timeout = .seconds(30)
        options.waitForReady = false
        return try await withCoordinatorClient(address) { client in
            try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options).workers.count
        }
    }

    private func expectRefused(_ address: CoordinatorAddress, _ comment: Comment) async {
        await #expect(throws: (any Error).self, comment) { _ = try await listWorkers(address) }
    }

    @Test func mutualTLSServesOnlyClientsWithACertificateFromItsCA() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let serverFiles = try TLSFiles(
            certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey,
            trustRoots: certificates.caCertificate
        ).validated(forServer: true)
        try await withCoordinatorServer(tls: serverFiles) { address, _ in
            func client(_ files: TLSFiles?) -> CoordinatorAddress {
                var client = address
                client.tls = files
                return client
            }
            let trusted = TLSFiles(
                certificateChain: certificates.clientCertificate, privateKey: certificates.clientKey,
                trustRoots: certificates.caCertificate)
            let served = try await listWorkers(client(trusted))
            #expect(served == 0)
            await expectRefused(client(nil), "plaintext")
            await expectRefused(client(TLSFiles(trustRoots: certificates.caCertificate)), "no client certificate")
            await expectRefused(
                client(
                    TLSFiles(
                        certificateChain: certificates.strangerCertificate, privateKey: certificates.strangerKey,
                        trustRoots: certificates.caCertificate)),
                "a client certificate from another CA")
            var doubting = trusted
            doubting.trustRoots = certificates.otherCACertificate
            await expectRefused(client(doubting), "a client that does not trust the server's CA")
            // The refusals changed nothing: the trusted client is still served.
            let servedAgain = try await listWorkers(client(trusted))
            #expect(servedAgain == 0)
        }
    }

    @Test func tlsWithoutClientCertificatesChecksTheServerAndItsName() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let serverFiles = TLSFiles(certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey)
        try await withCoordinatorServer(tls: serverFiles) { address, _ in
            var client = address
            client.tls = TLSFiles(trustRoots: certificates.caCertificate)
            let served = try await listWorkers(client)
            #expect(served == 0)
            client.tls = TLSFiles()  // the system's roots did not sign the test CA
            await expectRefused(client, "a server certificate from an unknown CA")
        }
        // A certificate from the right CA, but for another name than the address the client dialled.
        let misnamed = TLSFiles(
            certificateChain: certificates.misnamedServerCertificate, privateKey: certificates.misnamedServerKey)
        try await withCoordinatorServer(tls: misnamed) { address, _ in
            var client = address
            client.tls = TLSFiles(trustRoots: certificates.caCertificate)
            await expectRefused(client, "a certificate that does not name 127.0.0.1")
        }
    }

    @Test func incompleteOrUnreadableTLSFilesAreRefusedWithTheirName() throws {
        #expect(throws: TLSFilesError.self) {
            try TLSFiles(trustRoots: "/nonexistent/ca.pem").validated(forServer: false)
        }
        #expect(throws: TLSFilesError.self) {
            try TLSFiles(certificateChain: "/etc/hostname").validated(forServer: false)
        }
        #expect(throws: TLSFilesError.self) { try TLSFiles().validated(forServer: true) }
        #expect(throws: TLSFilesError.notPEM("/etc/hostname")) {
            try TLSFiles(trustRoots: "/etc/hostname").validated(forServer: false)
        }
        #expect(
            TLSFiles.fromEnvironment(["HANDOFF_TLS_CA": "/ca.pem", "HANDOFF_TOKEN": "x"])
                == TLSFiles(trustRoots: "/ca.pem"))
        #expect(TLSFiles.fromEnvironment(["HANDOFF_TLS_CA": ""]) == nil)
    }

    @Test func theGRPCPortClosesAConnectionThatMakesNoCallInTime() async throws {
        try await withCoordinatorServer(limits: GRPCPortLimits(firstCallTimeout: .seconds(1))) { address, _ in
            let silent = try TCPSocket.connect(host: "127.0.0.1", port: UInt16(address.port), timeout: .seconds(5))
            let closedAfter = await timeUntilClosed(fd: silent.fd, limit: .seconds(10))
            #expect(closedAfter != nil && closedAfter! < .seconds(5))
            silent.close()
        }
    }

    @Test func atTheConnectionCapSilentConnectionsMakeWayAndClientsThatCalledKeepTheirs() async throws {
        let limits = GRPCPortLimits(maxConnections: 3, firstCallTimeout: .seconds(60))
        try await withCoordinatorServer(limits: limits) { address, _ in
            var options = CallOptions.defaults
            options.timeout = .seconds(30)
            try await withCoordinatorClient(address) { client in
                _ = try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options)
                // The client's connection has made a call; two silent ones fill the cap.
                func connect() throws -> TCPSocket {
                    try TCPSocket.connect(host: "127.0.0.1", port: UInt16(address.port), timeout: .seconds(5))
                }
                let first = try connect()
                try await Task.sleep(for: .milliseconds(100))
                let second = try connect()
                try await Task.sleep(for: .milliseconds(100))
                // A newcomer takes the place of the oldest silent connection, not of the client's.
                let newcomer = try connect()
                #expect(
                    await timeUntilClosed(fd: first.fd, limit: .seconds(2)) != nil, "the oldest silent one is closed")
                #expect(await timeUntilClosed(fd: newcomer.fd, limit: .milliseconds(300)) == nil, "the newcomer stays")
                #expect(await timeUntilClosed(fd: second.fd, limit: .milliseconds(300)) == nil)
                _ = try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options)
                for socket in [first, second, newcomer] { socket.close() }
            }
        }
    }

    /// Connections that each make a call without the token, again and again, more of them than the cap: they must
    /// not count as clients' connections. Each is closed after its refused call and makes way at the cap, so a
    /// worker registers and calls are answered throughout.
    @Test func connectionsMakingUnauthenticatedCallsCannotLockClientsOut() async throws {
        let limits = GRPCPortLimits(maxConnections: 8, firstCallTimeout: .seconds(60))
        try await withCoordinatorServer(limits: limits) { address, coordinator in
            let intruder = CoordinatorAddress(endpoints: address.endpoints, token: BearerToken.random())
            let attack = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<24 {
                        group.addTask {
                            let deadline = ContinuousClock.now + .seconds(6)
                            while ContinuousClock.now < deadline && !Task.isCancelled {
                                _ = try? await withCoordinatorClient(intruder) { client in
                                    _ = try? await client.listWorkers(Handoff_V1_ListWorkersRequest())
                                    try await Task.sleep(for: .seconds(2))  // and hold the connection
                                }
                            }
                        }
                    }
                }
            }
            defer { attack.cancel() }
            try await Task.sleep(for: .seconds(1))  // the intruders hold every slot
            var options = CallOptions.defaults
            options.timeout = .seconds(3)
            var sessions: [Task<Void, any Error>] = []
            defer { for session in sessions { session.cancel() } }
            for index in 0..<4 {
                // A fresh connection each time, as a restarted worker or a new router's would be; like theirs, a call
                // whose new connection made way for a newer one before it could call is tried again (3 times).
                var workers: [Handoff_V1_WorkerInfo]?
                for _ in 0..<3 where workers == nil {
                    workers = try? await withCoordinatorClient(address) { client in
                        try await client.listWorkers(Handoff_V1_ListWorkersRequest(), options: options).workers
                    }
                }
                #expect(workers?.count == index, "no call got through in 3 tries")
                let registration = CoordinatorFixture.registration("p\(index)", .prefill, instance: UInt64(index + 1))
                let session = WorkerSession(registration: registration, coordinator: address)
                sessions.append(
                    Task {
                        try await session.runReconnecting(
                            load: { WorkerLoad(freeBlocks: 64, queueDepth: 0) }, handle: { _ in })
                    })
                try await eventually("worker p\(index) registers") {
                    await coordinator.workerStatuses().contains { $0.registration.identity == registration.identity }
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            attack.cancel()
        }
    }

}
