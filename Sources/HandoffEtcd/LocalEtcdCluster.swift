import Foundation
import Glibc
import HandoffCore

/// A throwaway etcd cluster on loopback, for `handoff demo --coordinators N` and the tests: members of Debian's
/// `etcd`, by default with a 50 ms heartbeat and a 500 ms election timeout, so that etcd grants a 1 s lease as
/// asked (with etcd's defaults, 100 and 1,000 ms, it raises it to 2 s). Data and logs go to a temporary
/// directory, removed by `stop`.
public final class LocalEtcdCluster {
    public let endpoints: EtcdEndpoints
    public let directory: URL
    private var members: [Process] = []
    /// Each member's command line, to start it again after `kill`.
    private var arguments: [[String]] = []
    private let executable: String

    /// Starts `count` members and waits until they answer.
    ///
    /// - Throws: `EtcdError.callFailed` when etcd is not installed or its members do not answer within 30 s.
    public init(
        members count: Int, heartbeatMilliseconds: Int = 50, electionTimeoutMilliseconds: Int = 500
    )
        async throws
    {
        guard let etcd = Self.executable() else {
            throw EtcdError.callFailed(
                call: "start", message: "etcd is not installed: `apt-get install etcd-server`")
        }
        executable = etcd
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "handoff-etcd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ports = try LoopbackPorts.reserve(2 * count)
        let peers = (0..<count).map { "e\($0)=http://127.0.0.1:\(ports[2 * $0 + 1])" }.joined(separator: ",")
        endpoints = EtcdEndpoints(members: (0..<count).map { .init(host: "127.0.0.1", port: ports[2 * $0]) })
        for index in 0..<count {
            let (client, peer) = ("http://127.0.0.1:\(ports[2 * index])", "http://127.0.0.1:\(ports[2 * index + 1])")
            arguments.append([
                "--name", "e\(index)", "--data-dir", directory.appendingPathComponent("e\(index)").path,
                "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer, "--initial-cluster", peers, "--initial-cluster-state", "new",
                "--heartbeat-interval", "\(heartbeatMilliseconds)", "--election-timeout",
                "\(electionTimeoutMilliseconds)",
            ])
            members.append(try startMember(index))
        }
        try await waitUntilReady()
    }

    /// The number of members.
    public var count: Int { members.count }

    /// Kills member `index` (SIGKILL, as a crash would); its data stays for `restart`.
    public func kill(member index: Int) {
        guard members.indices.contains(index), members[index].isRunning else { return }
        Glibc.kill(members[index].processIdentifier, SIGKILL)
        members[index].waitUntilExit()
    }

    /// Starts member `index` again on its data (after `kill`); it rejoins the cluster.
    public func restart(member index: Int) throws {
        guard members.indices.contains(index), !members[index].isRunning else { return }
        members[index] = try startMember(index)
    }

    private func startMember(_ index: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments[index]
        let log = directory.appendingPathComponent("e\(index).log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Stops the members and removes their data.
    public func stop() async {
        for member in members where member.isRunning { member.terminate() }
        for member in members {
            let deadline = ContinuousClock.now + .seconds(5)
            while member.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if member.isRunning { Glibc.kill(member.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        for member in members where member.isRunning { Glibc.kill(member.processIdentifier, SIGKILL) }
    }

    private func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var lastError = ""
        while ContinuousClock.now < deadline {
            do {
                _ = try await withEtcdClient(endpoints, callTimeout: .seconds(2)) { etcd in
                    try await etcd.grantLease(ttlSeconds: 1)
                }
                return
            } catch {
                lastError = "\(error)"
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        await stop()
        throw EtcdError.callFailed(call: "start", message: "the etcd members did not answer within 30 s: \(lastError)")
    }

    private static func executable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/etcd" } + ["/usr/bin/etcd"]).first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}
