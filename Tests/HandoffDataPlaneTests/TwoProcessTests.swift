import Foundation
import HandoffCore
import HandoffTestSupport
import HandoffUCX
import Testing

@testable import HandoffDataPlane

@Suite("UCX transfers between two processes", .serialized)
struct TwoProcessTests {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    // Fields named as the JSON keys of `handoff bench --json`.
    struct BenchOutput: Decodable {
        let verified: Bool
        let notified: Bool
        let bytes: Int
        let ops: Int
        let pieces: Int
        let ucx_transports: [String]
        let memory: String
    }

    /// UCX transports (nil: UCX's choice) and who allocates the pools.
    static let setups: [(transports: String?, memory: String)] = [(nil, "ucx"), (nil, "engine"), ("tcp", "ucx")]

    @Test(
        "handoff bench --local moves a scattered plan byte-exactly",
        arguments: setups, TransferOperation.allCases)
    func benchLocal(setup: (transports: String?, memory: String), operation: TransferOperation) async throws {
        let transports = setup.transports
        var arguments = [
            "bench", "--local", "--layers", "3", "--blocks", "24", "--block-kib", "4", "--pattern", "scattered",
            "--op", operation.rawValue, "--iterations", "2", "--memory", setup.memory, "--json",
        ]
        if let transports { arguments += ["--ucx-transports", transports] }
        let (output, status) = try await HandoffProcess(arguments).finish()
        #expect(status == 0)
        let result = try JSONDecoder().decode(BenchOutput.self, from: Data(output.utf8))
        #expect(result.verified && result.notified)
        #expect(result.bytes == 3 * 2 * 24 * 4096)
        #expect(result.pieces == 3 * 2 * 24)
        #expect(result.ops > 0 && result.ops <= result.pieces)
        #expect(result.memory == setup.memory)
        if transports == "tcp" { #expect(result.ucx_transports == ["tcp"]) }
    }

    @Test(
        "handoff bench --local --transport tcp moves a scattered plan byte-exactly between two processes",
        arguments: ["ucx", "engine"], TransferOperation.allCases)
    func benchLocalOverNativeTCP(memory: String, operation: TransferOperation) async throws {
        let (output, status) = try await HandoffProcess([
            "bench", "--local", "--transport", "tcp", "--tcp-streams", "3", "--layers", "3", "--blocks", "300",
            "--block-kib", "4", "--pattern", "scattered", "--op", operation.rawValue, "--iterations", "2", "--memory",
            memory, "--json",
        ]).finish()
        #expect(status == 0)
        let result = try JSONDecoder().decode(BenchOutput.self, from: Data(output.utf8))
        #expect(result.verified && result.notified)
        #expect(result.bytes == 3 * 2 * 300 * 4096)
        #expect(result.ucx_transports == ["tcp"])
    }

    @Test(
        "auto maps a same-host peer's engine memory (memfd) and moves a scattered plan byte-exactly",
        arguments: TransferOperation.allCases)
    func benchLocalOverSharedMemory(operation: TransferOperation) async throws {
        let (output, status) = try await HandoffProcess([
            "bench", "--local", "--transport", "auto", "--layers", "3", "--blocks", "64", "--block-kib", "8",
            "--pattern", "scattered", "--op", operation.rawValue, "--iterations", "2", "--memory", "engine", "--json",
        ]).finish()
        #expect(status == 0)
        let result = try JSONDecoder().decode(SharedMemoryOutput.self, from: Data(output.utf8))
        #expect(result.verified && result.notified)
        #expect(result.bytes == 3 * 2 * 64 * 8192)
        #expect(result.transport == "shm" && result.ucx_transports == ["memfd"])
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase
    // Fields named as the JSON keys of `handoff bench --json`.
    struct SharedMemoryOutput: Decodable {
        let verified: Bool
        let notified: Bool
        let bytes: Int
        let transport: String
        let ucx_transports: [String]
    }

    @Test("KV mode derives the blocks from a model preset and a prompt, and prints what the transfer adds to TTFT")
    func benchKVMode() async throws {
        // swift-format-ignore: AlwaysUseLowerCamelCase
        // Fields named as the JSON keys of `handoff bench --json`.
        struct KVOutput: Decodable {
            struct KV: Decodable {
                let kv_bytes: Int
                let moved_bytes: Int
                let measured_ms: Double
                let line_rate_ms: [String: Double]
            }
            let verified: Bool
            let layers: Int
            let blocks: Int
            let bytes: Int
            let seconds: Double
            let ops: Int
            let ops_per_s: Double
            let latency_us: LatencySummary
            let kv: KV
        }
        let (output, status) = try await HandoffProcess([
            "bench", "--local", "--model", "tiny", "--prompt-tokens", "100", "--block-tokens", "16", "--iterations",
            "1", "--json",
        ]).finish()
        #expect(status == 0)
        let result = try JSONDecoder().decode(KVOutput.self, from: Data(output.utf8))
        // tiny: 2 layers, K and V of 2 heads × 8 × bf16 = 32 bytes per token each, 128 bytes per token in all.
        #expect(result.verified && result.layers == 2 && result.blocks == 7)  // ⌈100 / 16⌉
        #expect(result.kv.kv_bytes == 100 * 128)
        #expect(result.kv.moved_bytes == 7 * 16 * 128 && result.bytes == result.kv.moved_bytes)
        #expect(abs(result.kv.measured_ms - result.seconds * 1000) < 1e-9)
        #expect(abs((result.kv.line_rate_ms["100"] ?? 0) - Double(7 * 16 * 128 * 8) / 100e9 * 1000) < 1e-12)
        #expect(result.kv.line_rate_ms.keys.sorted() == ["100", "200", "400"])
        #expect(abs(result.ops_per_s - Double(result.ops) / result.seconds) < 1e-6 * result.ops_per_s)
        #expect(result.latency_us.p50 <= result.latency_us.p99 && result.latency_us.p99 <= result.latency_us.p999)
    }

    @Test(
        "handoff bench run --peer measures against handoff bench serve; a wrong hello and an unreachable peer get clear errors",
        .timeLimit(.minutes(1)))
    func benchServeAndRun() async throws {
        let server = try HandoffProcess(["bench", "serve", "--listen", "127.0.0.1:0"])
        let listening = try await server.readLine()
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0) })

        let (output, status) = try await HandoffProcess([
            "bench", "run", "--peer", "127.0.0.1:\(port)", "--transport", "tcp", "--layers", "2", "--blocks", "40",
            "--block-kib", "4", "--pattern", "scattered", "--op", "write", "--iterations", "1", "--json",
        ]).finish()
        #expect(status == 0)
        let result = try JSONDecoder().decode(BenchOutput.self, from: Data(output.utf8))
        #expect(result.verified && result.notified && result.bytes == 2 * 2 * 40 * 4096)

        // Another protocol version is answered with an error that says what to do, and the server serves on.
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: UInt16(port), timeout: .seconds(2))
        defer { socket.close() }
        try socket.send(Array(#"HELLO {"version":99,"role":"source","arguments":[]}"#.utf8) + [10], "hello")
        var answer: [UInt8] = []
        while answer.last != 10, let byte = try? socket.receive(1, "answer") { answer += byte }
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("ERROR the initiator speaks bench protocol 99"))

        let unreachable = try HandoffProcess(
            ["bench", "run", "--peer", "127.0.0.1:1", "--layers", "1", "--blocks", "1"], captureErrors: true)
        #expect(try await unreachable.finish().status != 0)
        #expect(unreachable.errorOutput().contains("cannot reach 'handoff bench serve' at 127.0.0.1:1"))
        server.signal(SIGKILL)
        _ = try await server.finish()
    }

    /// Starts `handoff bench-peer` holding a filled source pool and connects this process's transport to it.
    func connectToPeer(
        transports: [String]?
    ) async throws -> (HandoffProcess, UCXTransport, LocalPool, RemotePeer, TransferPlan) {
        var arguments = [
            "bench-peer", "--layers", "2", "--blocks", "16", "--block-kib", "64", "--role", "source", "--seed", "5",
        ]
        if let transports { arguments += ["--ucx-transports", transports.joined(separator: ",")] }
        let peer = try HandoffProcess(arguments)
        let line = try await peer.readLine()
        #expect(line.hasPrefix("DESCRIPTOR "))
        let descriptor = try PoolDescriptor(decodingText: String(line.dropFirst("DESCRIPTOR ".count)))
        let transport = try UCXTransport(configuration: .init(transports: transports))
        let pool = try await transport.allocatePool(descriptor.layout, memoryType: .host)
        let remote = try await transport.connect(to: descriptor)
        let plan = try TransferPlan(
            sourceBlocks: Array(0..<16), destinationBlocks: Array((0..<16).reversed()), source: descriptor.layout,
            destination: descriptor.layout)
        return (peer, transport, pool, remote, plan)
    }

    @Test("a stalled peer fails the transfer at its deadline, and the connection is not used again")
    func stalledPeerTimesOut() async throws {
        // Over TCP, UCX emulates RMA with messages that the peer's worker must answer; a stopped peer answers none.
        let (peer, transport, pool, remote, plan) = try await connectToPeer(transports: ["tcp"])
        try await peer.stop()
        // Killed, never continued: over TCP, UCX serves a READ in the peer's software (AM-based RMA), and a peer
        // that wakes to a request whose requester has closed its endpoint aborts inside UCX (ucp_request_send:
        // "unexpected error").
        defer { peer.signal(SIGKILL) }
        let started = ContinuousClock.now
        await #expect {
            _ = try await transport.execute(
                plan, .read, local: pool, remote: remote, options: .init(timeout: .milliseconds(500)))
        } throws: { error in
            guard case .timedOut = error as? DataPlaneError else { return false }
            return true
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        await #expect(throws: DataPlaneError.self) {
            try await transport.execute(plan, .read, local: pool, remote: remote, options: .init(timeout: .seconds(2)))
        }
        await transport.shutdown()
    }

    @Test("cancelling the calling task cancels a stalled transfer")
    func cancellation() async throws {
        let (peer, transport, pool, remote, plan) = try await connectToPeer(transports: ["tcp"])
        try await peer.stop()
        // Killed, never continued (see stalledPeerTimesOut).
        defer { peer.signal(SIGKILL) }
        let task = Task {
            try await transport.execute(plan, .read, local: pool, remote: remote, options: .init(timeout: .seconds(20)))
        }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        task.cancel()
        await #expect {
            _ = try await task.value
        } throws: { error in
            guard case .cancelled = error as? DataPlaneError else { return false }
            return true
        }
        // In-flight ops get a grace second, then the endpoint is closed under them.
        #expect(ContinuousClock.now - started < .seconds(5))
        await transport.shutdown()
    }

    @Test("a peer process killed before the transfer gives an error, not a hang or a false success")
    func killedPeer() async throws {
        let (peer, transport, pool, remote, plan) = try await connectToPeer(transports: ["tcp"])
        peer.signal(SIGKILL)
        _ = try await peer.finish()
        let started = ContinuousClock.now
        await #expect(throws: DataPlaneError.self) {
            try await transport.execute(plan, .read, local: pool, remote: remote, options: .init(timeout: .seconds(5)))
        }
        #expect(ContinuousClock.now - started < .seconds(6))
        await transport.shutdown()
    }

    @Test("a same-host peer is reached over shared memory and its blocks arrive byte-exactly")
    func sharedMemoryPeer() async throws {
        let (peer, transport, pool, remote, plan) = try await connectToPeer(transports: nil)
        #expect(remote.lowerTransports.contains { ["posix", "sysv", "cma"].contains($0) })
        let report = try await transport.execute(plan, .read, local: pool, remote: remote, options: .init())
        #expect(report.bytes == 16 * 2 * 2 * 65536)
        let moves = zip(Array(0..<16), Array((0..<16).reversed())).map { (source: $0, destination: $1) }
        #expect(pool.firstMismatch(pattern: BlockPattern(seed: 5), moves: moves) == nil)
        try peer.send("QUIT")
        await transport.shutdown()
        #expect(try await peer.finish().status == 0)
    }
}
