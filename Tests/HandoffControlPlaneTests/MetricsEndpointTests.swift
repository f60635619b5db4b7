import Glibc
import HandoffControlPlane
import Prometheus
import Testing

/// The `/metrics` port takes no token: whoever reaches it must not be able to hold its connections (and the
/// coordinator's file descriptors) by connecting and saying nothing.
@Suite struct MetricsEndpointTests {
    @Test func silentConnectionsAreClosedAndBeyondTheCapRefusedWhileScrapesAreServed() async throws {
        var configured = MetricsEndpoint(registry: PrometheusCollectorRegistry(), host: "127.0.0.1", port: 0)
        configured.idleTimeout = .seconds(2)
        configured.maxConnections = 4
        let endpoint = configured
        let ports = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await endpoint.run {
                    ports.continuation.yield($0)
                    ports.continuation.finish()
                }
            }
            var port = 0
            for await bound in ports.stream { port = bound }
            let silent = try (0..<6).map { _ in try RawConnection(port: port) }
            try await Task.sleep(for: .milliseconds(300))
            // Four are served (and wait for a request); the two beyond the cap are closed at once.
            #expect(silent.filter { $0.closedByPeer(within: .milliseconds(100)) }.count == 2)
            try await Task.sleep(for: .milliseconds(2200))
            // Silent for the idle timeout: closed.
            #expect(silent.allSatisfy { $0.closedByPeer(within: .milliseconds(500)) })
            let scrape = try RawConnection(port: port)
            scrape.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(scrape.received(within: .seconds(2)).hasPrefix("HTTP/1.1 200"))
            group.cancelAll()
        }
    }
}

private struct ConnectFailed: Error {
    var errno: Int32
}

/// A blocking loopback TCP client, enough to hold a connection open and see whether the server closed it.
private final class RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
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

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
    }

    /// Whether the peer closed the connection (end of stream or reset) within `wait`.
    func closedByPeer(within wait: Duration) -> Bool {
        guard readable(within: wait) else { return false }
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    /// What arrived within `wait`, as text.
    func received(within wait: Duration) -> String {
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
