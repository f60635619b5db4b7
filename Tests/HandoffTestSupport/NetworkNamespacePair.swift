import Foundation
import Glibc

/// Two hosts on one machine: network namespaces `server` and `client` joined by a veth pair, with addresses
/// `serverAddress` and `clientAddress`, optionally shaped with a token bucket (`tc qdisc … tbf`).
/// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; `unavailableReason` says why it cannot be made.
public final class NetworkNamespacePair {
    public struct Failure: Error, CustomStringConvertible {
        public var command: String
        public var output: String
        public var description: String { "'\(command)' failed: \(output)" }
    }

    public let server: String
    public let client: String
    public let serverAddress = "10.231.0.1"
    public let clientAddress = "10.231.0.2"
    private let serverLink: String
    private let clientLink: String

    /// Why namespaces cannot be made here, or nil; checked once, with a probe namespace.
    public static let unavailableReason: String? = {
        guard getuid() == 0 else {
            return "not root: network namespaces and veth pairs need CAP_SYS_ADMIN and CAP_NET_ADMIN"
        }
        guard (try? run(["-V"])) != nil else { return "iproute2's 'ip' is not installed (apt-get install iproute2)" }
        let probe = "handoff-probe-\(getpid())"
        do {
            try run(["netns", "add", probe])
            try run(["netns", "del", probe])
            return nil
        } catch {
            return "cannot create a network namespace here: \(error)"
        }
    }()

    /// Creates both namespaces and the link; `rate` (e.g. "1gbit") shapes both directions.
    public init(tag: String, rate: String? = nil) throws {
        let suffix = "\(getpid() % 100_000)\(tag)"
        server = "hoff-s\(suffix)"
        client = "hoff-c\(suffix)"
        serverLink = "hs\(suffix)"
        clientLink = "hc\(suffix)"
        do {
            try Self.run(["netns", "add", server])
            try Self.run(["netns", "add", client])
            try Self.run(["link", "add", serverLink, "type", "veth", "peer", "name", clientLink])
            for (namespace, link, address) in [
                (server, serverLink, serverAddress), (client, clientLink, clientAddress),
            ] {
                try Self.run(["link", "set", link, "netns", namespace])
                try Self.run(["-n", namespace, "addr", "add", "\(address)/24", "dev", link])
                try Self.run(["-n", namespace, "link", "set", link, "up"])
                try Self.run(["-n", namespace, "link", "set", "lo", "up"])
                if let rate {
                    try Self.run([
                        "netns", "exec", namespace, "tc", "qdisc", "add", "dev", link, "root", "tbf", "rate", rate,
                        "burst", "256kb", "latency", "50ms",
                    ])
                }
            }
        } catch {
            remove()
            throw error
        }
    }

    /// Takes the link down (or up again) on the server's side.
    public func setLink(up: Bool) throws {
        try Self.run(["-n", server, "link", "set", serverLink, up ? "up" : "down"])
    }

    /// Sets the MTU of each end of the link.
    public func setMTU(server serverMTU: Int, client clientMTU: Int) throws {
        try Self.run(["-n", server, "link", "set", serverLink, "mtu", "\(serverMTU)"])
        try Self.run(["-n", client, "link", "set", clientLink, "mtu", "\(clientMTU)"])
    }

    /// Bytes the server's end of the link has sent so far.
    public func serverTransmittedBytes() throws -> Int {
        let text = try Self.run(["-n", server, "-s", "-j", "link", "show", "dev", serverLink])
        struct Link: Decodable {
            struct Stats: Decodable {
                struct Direction: Decodable { var bytes: Int }
                var tx: Direction
            }
            var stats64: Stats
        }
        return try JSONDecoder().decode([Link].self, from: Data(text.utf8)).first?.stats64.tx.bytes ?? 0
    }

    /// Aborts every established TCP connection in the server's namespace except those on `keptPorts` (its
    /// listening ports), as a middlebox or a crashed NIC queue would: both ends see the connection fail.
    public func abortServerConnections(keeping keptPorts: [Int]) throws {
        let filter = keptPorts.map { "not sport = :\($0)" }.joined(separator: " and ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", server, "ss", "-K", "-t", "state", "established", "( \(filter) )"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                command: (process.arguments ?? []).joined(separator: " "),
                output: "exit status \(process.terminationStatus)")
        }
    }

    /// Deletes both namespaces (and with them the veth pair). Idempotent.
    public func remove() {
        _ = try? Self.run(["netns", "del", server])
        _ = try? Self.run(["netns", "del", client])
    }

    /// `ip netns exec <namespace> handoff <arguments>`.
    public func handoff(
        in namespace: String, _ arguments: [String], captureErrors: Bool = false
    ) throws -> HandoffProcess {
        try HandoffProcess(arguments, inNetworkNamespace: namespace, captureErrors: captureErrors)
    }

    deinit { remove() }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let (status, text) = try runCommand("/usr/bin/env", ["ip"] + arguments)
        guard status == 0 else {
            throw Failure(
                command: "ip " + arguments.joined(separator: " "),
                output: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return text
    }
}
