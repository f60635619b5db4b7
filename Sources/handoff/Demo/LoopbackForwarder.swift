import Foundation
import Glibc
import HandoffCore
import Synchronization

/// A TCP forwarder on loopback that the demo puts between one coordinator and one etcd member, so that the
/// coordinator's etcd connections can be cut (`--fault cut-leader-etcd`) without touching anyone else's.
///
/// One thread polls the listening socket and every forwarded pair. While cut, the link is a black hole, as a
/// failed network path is: connections are accepted and kept, and whatever either side sends is read and dropped.
/// When the cut ends, the connections that lived through it are closed (their clients connect again).
final class LoopbackForwarder: Sendable {
    /// The port it listens on (127.0.0.1).
    let port: Int
    private let target: HostPort
    private let listener: Int32
    private let state = Mutex(State())
    private let wake: (read: Int32, write: Int32)

    private struct State {
        var cut = false
        /// Pairs to close when the cut ends.
        var closeLinks = false
        var stopped = false
    }

    /// Listens on an ephemeral loopback port and forwards each connection to `target`.
    init(to target: HostPort) throws {
        self.target = target
        let (listener, port) = try Self.listen()
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(listener)
            throw BenchError.peerFailed("pipe: \(String(cString: strerror(errno)))")
        }
        self.listener = listener
        self.port = port
        wake = (fds[0], fds[1])
        let thread = Thread { [self] in serve() }
        thread.name = "handoff-demo-forwarder"
        thread.start()
    }

    /// A listening socket on an ephemeral loopback port, and the port.
    private static func listen() throws -> (Int32, Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw BenchError.peerFailed("socket: \(String(cString: strerror(errno)))") }
        var address = loopback(port: 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(listener, 64) == 0 else {
            close(listener)
            throw BenchError.peerFailed("cannot listen on loopback: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Cuts the link (a black hole) or restores it.
    func setCut(_ cut: Bool) {
        state.withLock {
            if $0.cut && !cut { $0.closeLinks = true }
            $0.cut = cut
        }
        poke()
    }

    /// Stops forwarding and closes every socket.
    func stop() {
        state.withLock { $0.stopped = true }
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// One forwarded connection: the client's socket and the member's.
    private struct Link {
        var client: Int32
        var member: Int32
    }

    private func serve() {
        var links: [Link] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let now = state.withLock { state -> State in
                let copy = state
                state.closeLinks = false
                return copy
            }
            if now.stopped || now.closeLinks {
                for link in links {
                    close(link.client)
                    close(link.member)
                }
                links = []
                if now.stopped { break }
            }
            var polled = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            for link in links {
                polled.append(pollfd(fd: link.client, events: Int16(POLLIN), revents: 0))
                polled.append(pollfd(fd: link.member, events: Int16(POLLIN), revents: 0))
            }
            guard poll(&polled, nfds_t(polled.count), 1000) >= 0 || errno == EINTR else { break }
            if polled[1].revents != 0 { _ = read(wake.read, &buffer, buffer.count) }
            var ended: Set<Int> = []
            for (index, link) in links.enumerated() {
                let (fromClient, fromMember) = (polled[2 + 2 * index].revents, polled[3 + 2 * index].revents)
                if fromClient != 0, !pass(from: link.client, to: now.cut ? nil : link.member, &buffer) {
                    ended.insert(index)
                }
                if fromMember != 0, !pass(from: link.member, to: now.cut ? nil : link.client, &buffer) {
                    ended.insert(index)
                }
            }
            for index in ended.sorted(by: >) {
                close(links[index].client)
                close(links[index].member)
                links.remove(at: index)
            }
            if polled[0].revents & Int16(POLLIN) != 0, let link = accept(cut: now.cut) { links.append(link) }
        }
        close(listener)
        close(wake.read)
        close(wake.write)
    }

    /// Accepts a client and connects it to the member (while cut, to nothing: its bytes are dropped).
    private func accept(cut: Bool) -> Link? {
        let client = Glibc.accept(listener, nil, nil)
        guard client >= 0 else { return nil }
        let member = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: target.port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(member, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if member < 0 || (connected != 0 && !cut) {
            close(client)
            if member >= 0 { close(member) }
            return nil
        }
        return Link(client: client, member: member)
    }

    /// Moves what `source` has to `destination` (nil: drops it); false when `source` ended or failed.
    private func pass(from source: Int32, to destination: Int32?, _ buffer: inout [UInt8]) -> Bool {
        let count = read(source, &buffer, buffer.count)
        guard count > 0 else { return false }
        guard let destination else { return true }
        var sent = 0
        while sent < count {
            let written = buffer.withUnsafeBytes {
                send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { return false }
            sent += written
        }
        return true
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
