import Foundation
import Glibc

/// Two hosts on one machine: network namespaces `server` and `client` joined by a veth pair, with addresses
/// `serverAddress` and `clientAddress`, optionally shaped with a token bucket (`tc qdisc … tbf`).
/// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; `unavailableReason` says why it cannot be made.
public final class NetworkNamespacePair: Sendable {
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

    /// Why namespaces cannot be made here, or nil; checked once, with a probe namespace, on a thread of its own.
    public static var unavailableReason: String? {
        get async { await probe.value }
    }

    private static let probe = Task<String?, Never> {
        do {
            return try await runOnOwnThread { probeNow() }
        } catch {
            return "the namespace probe did not run: \(error)"
        }
    }

    private static func probeNow() -> String? {
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
    }

    /// Creates both namespaces and the link, on a thread of its own (a dozen `ip` and `tc` commands); `rate`
    /// (e.g. "1gbit") shapes both directions.
    public static func make(tag: String, rate: String? = nil) async throws -> NetworkNamespacePair {
        try await runOnOwnThread { try NetworkNamespacePair(tag: tag, rate: rate) }
    }

    private init(tag: String, rate: String?) throws {
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
    public func setLink(up: Bool) async throws {
        _ = try await runOnOwnThread { [self] in
            try Self.run(["-n", server, "link", "set", serverLink, up ? "up" : "down"])
        }
    }

    /// Sets the MTU of each end of the link.
    public func setMTU(server serverMTU: Int, client clientMTU: Int) async throws {
        try await runOnOwnThread { [self] in
            try Self.run(["-n", server, "link", "set", serverLink, "mtu", "\(serverMTU)"])
            try Self.run(["-n", client, "link", "set", clientLink, "mtu", "\(clientMTU)"])
        }
    }

    /// Bytes the server's end of the link has sent so far.
    public func serverTransmittedBytes() async throws -> Int {
        let text = try await runOnOwnThread { [self] in
            try Self.run(["-n", server, "-s", "-j", "link", "show", "dev", serverLink])
        }
        struct Link: Decodable {
            struct Stats: Decodable {
                struct Direction: Decodable { var bytes: Int }
                var tx: Direction
            }
            var stats64: Stats
        }
        return try JSONDecoder().decode([Link].self, from: Data(text.utf8)).first?.stats64.tx.bytes ?? 0
    }

    /// Cuts the client off from the server for every TCP connection but those to `keptPorts`, and aborts the
    /// client's ends of those connections, as a middlebox or a crashed NIC queue would: the client sees each
    /// connection fail at once, while the server, whose packets from the client are dropped (the client's resets
    /// among them), sees nothing happen.
    ///
    /// (A reset the server sees would abort it: UCX 1.13's software RMA over its tcp transport dies with
    /// "unexpected error: Endpoint timeout" when a connection breaks while it answers a GET.)
    public func cutClientOff(keepingServerPorts keptPorts: [Int]) async throws {
        try await runOnOwnThread { [self] in
            // Only htb, blackhole and u32 are built into this kernel (no ingress qdisc, no tc actions): the
            // client's egress is classified into a class that forwards (the kept ports) or one that drops.
            let tc = ["netns", "exec", client, "tc"]
            try Self.run(tc + ["qdisc", "replace", "dev", clientLink, "root", "handle", "1:", "htb", "default", "1"])
            for classID in ["1:1", "1:2"] {
                try Self.run(
                    tc + [
                        "class", "add", "dev", clientLink, "parent", "1:", "classid", classID, "htb", "rate", "10gbit",
                    ])
            }
            try Self.run(tc + ["qdisc", "add", "dev", clientLink, "parent", "1:2", "handle", "20:", "blackhole"])
            let tcpFilter = ["filter", "add", "dev", clientLink, "parent", "1:", "protocol", "ip"]
            for (index, port) in keptPorts.enumerated() {
                try Self.run(
                    tc + tcpFilter + [
                        "prio", "\(index + 1)", "u32", "match", "ip", "protocol", "6", "0xff", "match", "ip", "dport",
                        "\(port)", "0xffff", "flowid", "1:1",
                    ])
            }
            try Self.run(
                tc + tcpFilter + [
                    "prio", "\(keptPorts.count + 1)", "u32", "match", "ip", "protocol", "6", "0xff", "flowid", "1:2",
                ])
            let kept = keptPorts.map { "not dport = :\($0)" }.joined(separator: " and ")
            try Self.run(["netns", "exec", client, "ss", "-K", "-t", "state", "established", "( \(kept) )"])
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
