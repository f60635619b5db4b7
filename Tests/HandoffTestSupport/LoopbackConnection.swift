import Glibc

/// A blocking loopback TCP client for tests of servers that must withstand slow or silent clients: it holds a
/// connection open, sends bytes when told, reads what arrives and sees whether the server closed it.
public final class LoopbackConnection: @unchecked Sendable {
    // @unchecked: one test task uses it at a time; the descriptor is only read and written.
    public struct ConnectFailed: Error {
        public var errno: Int32
    }

    public let descriptor: Int32

    public init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw ConnectFailed(errno: errno) }
    }

    deinit { close(descriptor) }

    public func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer {
            Glibc.send(descriptor, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
        }
    }

    /// Closes both directions, as a client that leaves does (the descriptor is released at deinit).
    public func hangUp() { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Whether the peer closed the connection (end of stream or reset) within `wait`.
    public func closedByPeer(within wait: Duration) -> Bool {
        guard readable(within: wait) else { return false }
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    /// The first bytes that arrive within `wait`, as text ("" if none).
    public func received(within wait: Duration) -> String {
        guard readable(within: wait) else { return "" }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : ""
    }

    private func readable(within wait: Duration) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        return poll(&entry, 1, milliseconds) > 0
    }
}
