import Foundation
import Glibc
import HandoffCore
import HandoffDataPlane
import HandoffTestSupport
import Testing

/// A coordinator and workers as separate processes under the attacks the hardening review found, all at once:
/// floods of connections that never speak, garbage and wrong keys on the gRPC and data-plane ports. Each process
/// must stay up with its memory bounded, and requests beside the attack must complete byte-exactly.
@Suite(.serialized) struct AbuseTests {
    @Test(.timeLimit(.minutes(2))) func floodsOfSilentGarbageAndForgedConnectionsNeitherStopNorGrowTheFleet()
        async throws
    {
        Self.raiseDescriptorLimit()
        let cluster = try await TestCluster()
        defer { cluster.remove() }
        let workers = try ["prefill", "decode"].map { role in
            try cluster.worker("\(role)-0", role: role, model: "tiny", ["--blocks", "64", "--transport", "tcp"])
        }
        let dataEndpoint = try await cluster.tcpEndpoint(of: "prefill-0", on: "127.0.0.1")
        let dataPort = try #require(dataEndpoint.split(separator: ":").last.flatMap { UInt16(String($0)) })
        let grpcPort = try #require(cluster.address.split(separator: ":").last.flatMap { UInt16(String($0)) })
        let warmUp = try await requests(cluster, count: 10)
        #expect(warmUp == 10)
        let processes = [cluster.coordinator] + workers
        let before = processes.map { Self.residentKiB($0.process.processIdentifier) }

        var held: [TCPSocket] = []
        for round in 0..<3 {
            // The attack's blocking connects and sends run on a thread of their own, not on the few threads every
            // test's tasks share.
            held += try await Self.attack(dataPort: dataPort, grpcPort: grpcPort, round: round)
            // Real traffic beside the attack: every request done and verified.
            let served = try await requests(cluster, count: 10)
            #expect(served == 10, "round \(round)")
        }
        for socket in held { socket.close() }
        try await Task.sleep(for: .seconds(2))
        let servedAfter = try await requests(cluster, count: 10)
        #expect(servedAfter == 10)
        let after = processes.map { Self.residentKiB($0.process.processIdentifier) }
        print("abuse: resident KiB before \(before), after \(after) (coordinator, prefill, decode)")
        for (index, process) in processes.enumerated() {
            #expect(process.process.isRunning)
            // 2,100 connections and 6 MiB of garbage later: at most 64 MiB more resident memory.
            #expect(after[index] - before[index] < 64 << 10, "process \(index): \(before[index]) → \(after[index]) KiB")
        }
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { _ = try await worker.finish() }
        cluster.coordinator.signal(SIGTERM)
    }

    /// One round: on each port 300 connections that never speak and 50 that send 64 KiB of garbage; on the data
    /// port 100 hellos naming pools with a forged key. Returns the sockets, still open.
    private static func attack(dataPort: UInt16, grpcPort: UInt16, round: Int) async throws -> [TCPSocket] {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        var generator = SplitMix64(seed: UInt64(round))
                        let garbage = (0..<65_536).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                        var held: [TCPSocket] = []
                        func connect(_ port: UInt16) throws -> TCPSocket {
                            let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
                            held.append(socket)
                            return socket
                        }
                        for port in [dataPort, grpcPort] {
                            for _ in 0..<300 { _ = try connect(port) }
                            for _ in 0..<50 { try? connect(port).send(garbage, "garbage") }
                        }
                        for index in 0..<100 {
                            var hello = [UInt8](repeating: 0, count: 32)
                            hello.replaceSubrange(0..<4, with: [0x50, 0x43, 0x54, 0x48])  // "PCTH", version 2
                            hello[4] = 2
                            hello[8] = UInt8(index)  // pools 0 to 99, key 0
                            try? connect(dataPort).send(hello, "forged hello")
                        }
                        return held
                    })
            }.start()
        }
    }

    /// Sends `count` requests through `handoff request`; how many ended done and verified.
    private func requests(_ cluster: TestCluster, count: Int) async throws -> Int {
        let process = try HandoffProcess(
            [
                "request", "--coordinator", cluster.address, "--token-file", cluster.tokenFile.path, "--model", "tiny",
                "--prompt-tokens", "128", "--count", "\(count)", "--concurrency", "2", "--id-prefix",
                "abuse-\(UInt64.random(in: 0...UInt64.max))",
            ], captureErrors: true)
        let (output, _) = try await process.finish()
        return output.split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return false
            }
            return object["state"] as? String == "done" && object["verified"] as? Bool == true
        }.count
    }

    private static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// The attack holds thousands of sockets: lift this process's (and its children's) soft limit to the hard one.
    private static func raiseDescriptorLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
