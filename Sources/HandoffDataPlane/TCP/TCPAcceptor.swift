import Glibc

/// Accepts connections to a native TCP data-plane port and reads each one's first `TCPWire.helloBytes` bytes,
/// all on one thread with `poll`: a connection costs no thread until it has said hello.
///
/// A connection silent past the hello timeout is closed; when `maxPendingHellos` connections are waiting, the one
/// waiting longest is closed for the new one, so connections that never speak cannot lock peers out.
final class TCPAcceptor: Sendable {
    /// Called on the acceptor's thread with a connection and its first `TCPWire.helloBytes` bytes; it now owns
    /// the connection and must not block.
    typealias Greeted = (TCPSocket, [UInt8]) -> Void

    private let listener: TCPSocket
    private let limits: TCPServerLimits
    /// A pipe whose write end `stop()` writes to, waking the poll.
    private let wake: (read: Int32, write: Int32)

    /// A connection that has not said all of its hello yet.
    private struct Pending {
        var socket: TCPSocket
        var bytes: [UInt8] = []
        var deadline: ContinuousClock.Instant
    }

    /// - Throws: `TCPSocket.Failure` when no pipe can be made.
    init(listener: TCPSocket, limits: TCPServerLimits) throws(TCPSocket.Failure) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TCPSocket.Failure(operation: "pipe", code: errno) }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        self.listener = listener
        self.limits = limits
        wake = (ends[0], ends[1])
        listener.makeNonBlocking()
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// Makes `run` return; callable from any thread, any number of times.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// Accepts and greets until `stop()`, then closes the connections still waiting; blocks its thread.
    func run(_ greeted: Greeted) {
        var pending: [Pending] = []
        defer { for entry in pending { entry.socket.close() } }
        while true {
            var polled =
                [
                    pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0),
                ]
                + pending.map { pollfd(fd: $0.socket.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), Self.milliseconds(until: pending.first?.deadline))
            if ready < 0 {
                if errno != EINTR { usleep(10_000) }  // out of memory: keep serving
                continue
            }
            if polled[0].revents != 0 { return }
            pending = advance(pending, polled: polled[2...], greeted)
            if polled[1].revents != 0 { acceptQueued(into: &pending) }
        }
    }

    /// Reads what the ready connections sent; hands on the ones whose hello is complete and closes the ones that
    /// ended or ran out of time. Returns the rest, in arrival order.
    private func advance(_ pending: [Pending], polled: ArraySlice<pollfd>, _ greeted: Greeted) -> [Pending] {
        let now = ContinuousClock.now
        var waiting: [Pending] = []
        waiting.reserveCapacity(pending.count)
        for (entry, poll) in zip(pending, polled) {
            var entry = entry
            if poll.revents != 0 {
                switch entry.socket.receiveAvailable(upTo: TCPWire.helloBytes - entry.bytes.count) {
                case .bytes(let bytes):
                    entry.bytes += bytes
                    if entry.bytes.count == TCPWire.helloBytes {
                        greeted(entry.socket, entry.bytes)
                        continue
                    }
                case .none:
                    break
                case .ended:
                    entry.socket.close()
                    continue
                }
            }
            if entry.deadline <= now {
                entry.socket.close()
                continue
            }
            waiting.append(entry)
        }
        return waiting
    }

    /// Accepts the connections queued now (a bounded number, so that waiting ones are read in between).
    private func acceptQueued(into pending: inout [Pending]) {
        for _ in 0..<64 {
            let connection: TCPSocket
            do {
                connection = try listener.accept()
            } catch {
                if error.code != EAGAIN && error.code != EWOULDBLOCK { usleep(10_000) }  // out of descriptors
                return
            }
            if pending.count >= limits.maxPendingHellos { pending.removeFirst().socket.close() }
            pending.append(Pending(socket: connection, deadline: ContinuousClock.now + limits.helloTimeout))
        }
    }

    /// Milliseconds from now to `deadline` for `poll`, at least 0; -1 (forever) without one.
    private static func milliseconds(until deadline: ContinuousClock.Instant?) -> Int32 {
        guard let deadline else { return -1 }
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return 0 }
        return Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
    }
}
