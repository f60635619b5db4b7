import Glibc

/// Ports free on loopback now, for processes that must be told their ports in advance (etcd members, the
/// coordinators of a demo cluster, which advertise theirs). Another process could take one before it is used;
/// on loopback in a demo or a test that is unlikely.
public enum LoopbackPorts {
    /// `count` distinct ports that were free a moment ago.
    ///
    /// - Throws: `LoopbackPortsError` when no socket can be bound.
    public static func reserve(_ count: Int) throws(LoopbackPortsError) -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw LoopbackPortsError(errno: errno) }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
                }
            }
            guard bound else { throw LoopbackPortsError(errno: errno) }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

/// No loopback port could be bound.
public struct LoopbackPortsError: Error, Sendable, CustomStringConvertible {
    public var errno: Int32

    public var description: String { "cannot bind a loopback port: errno \(errno)" }
}
