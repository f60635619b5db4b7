import Foundation
import HandoffCore

/// The client URLs of an etcd cluster's members, as etcd's own tools take them: `http://H:P[,http://H:P...]`.
///
/// A client connects to one member and moves to another when it becomes unreachable.
public struct EtcdEndpoints: Sendable, Hashable, CustomStringConvertible {
    /// The members' client addresses, in the order given.
    public var members: [HostPort]

    /// At least one member.
    public init(members: [HostPort]) {
        precondition(!members.isEmpty, "an etcd cluster has at least one member")
        self.members = members
    }

    /// Parses a comma-separated list of `http://HOST:PORT` (or bare `HOST:PORT`) URLs.
    ///
    /// - Throws: `EtcdError.invalidEndpoint` for an empty list, an `https` URL (TLS to etcd is not supported
    ///   yet: run etcd on a private network or loopback) or an address that is not `HOST:PORT`.
    public init(parsing text: String) throws(EtcdError) {
        var members: [HostPort] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            if part.hasPrefix("https://") {
                throw .invalidEndpoint("\(part): TLS to etcd is not supported; give http:// member URLs")
            }
            var address = part.hasPrefix("http://") ? String(part.dropFirst("http://".count)) : part
            if address.hasSuffix("/") { address.removeLast() }
            do {
                members.append(try HostPort(parsing: address))
            } catch {
                throw .invalidEndpoint("\(part): \(error)")
            }
        }
        guard !members.isEmpty else { throw .invalidEndpoint("no etcd member URL in \"\(text)\"") }
        self.members = members
    }

    public var description: String { members.map { "http://\($0)" }.joined(separator: ",") }
}
