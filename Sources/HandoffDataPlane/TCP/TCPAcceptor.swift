import Glibc

/// Accepts connections to a native TCP data-plane port and reads each one's first `TCPWire.helloBytes` bytes,
/// all on one thread with `poll`: a connection costs no thread until it has said hello. With TLS, the handshake
/// runs there too, on the non-blocking socket, and a client that does not start one is told so and closed.
///
/// A connection silent past the hello timeout is closed; when `maxPendingHellos` connections are waiting, the one
/// waiting longest is closed for the new one, so connections that never speak cannot lock peers out.
final class TCPAcceptor: Sendable {
    /// Called on the acceptor's thread with a connection and its first `TCPWire.helloBytes` bytes; it now owns
    /// the connection and must not block.
    typealias Greeted = (TCPSocket, [UInt8]) -> Void

    private let listener: TCPSocket
    private let limits: TCPServerLimits
    private let tls: DataPlaneTLSContexts?
    /// A pipe whose write end `stop()` writes to, waking the poll.
    private let wake: (read: Int32, write: Int32)

    /// A connection that has not said all of its hello yet.
    private struct Pending {
        var socket: TCPSocket
        var bytes: [UInt8] = []
        var deadline: ContinuousClock.Instant
        /// With TLS: the session, once the client has started a handshake.
        var session: TLSSession?
        var handshaken = false
        /// The handshake waits for the socket to take more bytes, not to bring some.
        var wantsWrite = false
    }

    /// - Throws: `TCPSocket.Failure` when no pipe can be made.
    init(listener: TCPSocket, limits: TCPServerLimits, tls: DataPlaneTLSContexts?) throws(TCPSocket.Failure) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TCPSocket.Failure(operation: "pipe", code: errno) }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        self.listener = listener
        self.limits = limits
        self.tls = tls
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
                + pending.map { pollfd(fd: $0.socket.fd, events: Int16($0.wantsWrite ? POLLOUT : POLLIN), revents: 0) }
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
                switch tls == nil ? readHello(&entry) : readHelloOverTLS(&entry) {
                case .waiting:
                    break
                case .complete:
                    if entry.session != nil { entry.socket.setBlocking(true) }
                    greeted(entry.socket, entry.bytes)
                    continue
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

    private enum HelloProgress { case waiting, complete, ended }

    /// Reads what arrived of a plaintext hello.
    private func readHello(_ entry: inout Pending) -> HelloProgress {
        switch entry.socket.receiveAvailable(upTo: TCPWire.helloBytes - entry.bytes.count) {
        case .bytes(let bytes):
            entry.bytes += bytes
            return entry.bytes.count == TCPWire.helloBytes ? .complete : .waiting
        case .none: return .waiting
        case .ended: return .ended
        }
    }

    /// Advances the TLS handshake, then reads what arrived of the hello through the session (all that OpenSSL
    /// holds: a socket that brought it in one read is not readable again).
    private func readHelloOverTLS(_ entry: inout Pending) -> HelloProgress {
        guard let tls else { return .ended }
        if entry.session == nil {
            switch startsTLS(entry.socket) {
            case .complete: break
            case .waiting: return .waiting
            case .ended: return .ended
            }
            guard let session = try? TLSSession(fd: entry.socket.fd, context: tls.server, server: true) else {
                return .ended
            }
            entry.session = session
            entry.socket = TCPSocket(fd: entry.socket.fd, tls: session)
        }
        guard let session = entry.session else { return .ended }
        if !entry.handshaken {
            switch session.handshake() {
            case .done: entry.handshaken = true
            case .wantsRead:
                entry.wantsWrite = false
                return .waiting
            case .wantsWrite:
                entry.wantsWrite = true
                return .waiting
            case .failed: return .ended  // an untrusted or absent certificate among others: nothing to answer
            }
        }
        entry.wantsWrite = false
        var chunk = [UInt8](repeating: 0, count: TCPWire.helloBytes)
        while entry.bytes.count < TCPWire.helloBytes {
            let wanted = TCPWire.helloBytes - entry.bytes.count
            switch chunk.withUnsafeMutableBytes({ session.read(into: $0.baseAddress!, count: wanted) }) {
            case .success(let count): entry.bytes += chunk.prefix(count)
            case .failure(let failure): return failure.code == EAGAIN ? .waiting : .ended
            }
        }
        return .complete
    }

    /// Whether a new connection's first byte starts a TLS handshake record (22): `complete` when it does, `ended`
    /// when it does not (a plaintext client is told that TLS is required, in a refusal it can read) or the
    /// connection ended, `waiting` while nothing has arrived.
    private func startsTLS(_ socket: TCPSocket) -> HelloProgress {
        var first: UInt8 = 0
        let peeked = recv(socket.fd, &first, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if peeked < 0 && (errno == EAGAIN || errno == EINTR) { return .waiting }
        if peeked == 1 && first == 22 { return .complete }
        if peeked == 1 {
            let text = Array(
                "this data plane requires mutual TLS: give the client --tls-cert, --tls-key and --tls-ca".utf8)
            let response = TCPWire.Response(
                requestID: 0, status: TCPWire.Status.refused.rawValue, messageBytes: text.count, payloadBytes: 0)
            socket.sendWithoutWaiting(TCPWire.encode(response) + text)
        }
        return .ended
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
            if tls != nil { connection.setBlocking(false) }
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
