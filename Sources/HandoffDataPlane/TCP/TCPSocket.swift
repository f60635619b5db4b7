import Glibc

/// A connected or listening TCP socket with blocking, all-or-error I/O: every send and receive moves exactly
/// the bytes asked for, straight between the socket and the caller's memory (scatter/gather, no staging).
///
/// Not thread-safe, except `shutdown()`, which any thread may call to make blocked I/O on the socket fail.
/// Visible to the package's tools, whose control connections (`handoff bench serve`) use it too.
package struct TCPSocket: Sendable {
    package let fd: Int32
    /// The TLS session every byte goes through, once a handshake is done; nil: plaintext.
    let tls: TLSSession?

    package init(fd: Int32) {
        self.fd = fd
        self.tls = nil
    }

    /// The socket `fd` speaking TLS through `session`.
    init(fd: Int32, tls session: TLSSession) {
        self.fd = fd
        self.tls = session
    }

    /// Why a socket call failed: which call and the errno, or the peer closing the connection.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        var operation: String
        var code: Int32

        static let closedCode: Int32 = -1

        package var description: String {
            code == Self.closedCode
                ? "\(operation): the peer closed the connection" : "\(operation): \(String(cString: strerror(code)))"
        }
    }

    /// Listens on `host:port` (port 0: any); returns the socket and the bound port.
    package static func listen(host: String, port: UInt16) throws(Failure) -> (TCPSocket, UInt16) {
        var address = try Self.address(host: host, port: port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(operation: "socket", code: errno) }
        let listener = TCPSocket(fd: fd)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            listener.close()
            throw Failure(operation: "bind \(host):\(port)", code: code)
        }
        guard Glibc.listen(fd, 128) == 0 else {
            let code = errno
            listener.close()
            throw Failure(operation: "listen", code: code)
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (listener, UInt16(bigEndian: local.sin_port))
    }

    /// Connects to `host:port`, giving up after `timeout`.
    package static func connect(host: String, port: UInt16, timeout: Duration) throws(Failure) -> TCPSocket {
        var address = try Self.address(host: host, port: port)
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure(operation: "socket", code: errno) }
        let connection = TCPSocket(fd: fd)
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if started != 0 {
            guard errno == EINPROGRESS else {
                let code = errno
                connection.close()
                throw Failure(operation: "connect \(host):\(port)", code: code)
            }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let milliseconds = Int32(
                clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            var ready = poll(&poller, 1, max(milliseconds, 1))
            while ready < 0 && errno == EINTR { ready = poll(&poller, 1, max(milliseconds, 1)) }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard ready == 1, error == 0 else {
                connection.close()
                throw Failure(operation: "connect \(host):\(port)", code: ready == 1 ? error : ETIMEDOUT)
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        connection.configure()
        return connection
    }

    /// Waits for the next connection.
    package func accept() throws(Failure) -> TCPSocket {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                let socket = TCPSocket(fd: client)
                socket.configure()
                return socket
            }
            if errno != EINTR { throw Failure(operation: "accept", code: errno) }
        }
    }

    /// No Nagle delay: requests are small and answered at once.
    private func configure() {
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends all of `bytes`; a closed peer is an error, never a SIGPIPE.
    package func send(_ bytes: [UInt8], _ what: String) throws(Failure) {
        var none: [iovec] = []
        try send(bytes, then: &none, what)
    }

    /// Sends `prefix`, then every byte `vectors` point at, in as few calls as the kernel allows.
    func send(_ prefix: [UInt8], then vectors: inout [iovec], _ what: String) throws(Failure) {
        var failure: Failure?
        prefix.withUnsafeBytes { buffer in
            var all =
                [iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)]
                + vectors
            do throws(Failure) { try sendAll(&all, what) } catch { failure = error }
        }
        vectors = []
        if let failure { throw failure }
    }

    /// Sends every byte the vectors point at, in order. Consumes `vectors`.
    func sendAll(_ vectors: inout [iovec], _ what: String) throws(Failure) {
        // sendmsg rather than writev: MSG_NOSIGNAL turns a closed peer into EPIPE instead of a process-killing SIGPIPE.
        try transferAll(&vectors, what, writing: true) { fd, pointer, count in
            var message = msghdr()
            message.msg_iov = UnsafeMutablePointer(mutating: pointer)
            message.msg_iovlen = Int(count)
            return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
        }
    }

    /// Fills every byte the vectors point at from the socket, in order. Consumes `vectors`.
    func receiveAll(_ vectors: inout [iovec], _ what: String) throws(Failure) {
        try transferAll(&vectors, what, writing: false) { fd, pointer, count in readv(fd, pointer, count) }
    }

    /// Runs the session's `read` or `write` until every vector is done.
    private func transferAll(
        _ vectors: inout [iovec], _ what: String, through session: TLSSession, writing: Bool
    ) throws(Failure) {
        for index in vectors.indices {
            while vectors[index].iov_len > 0, let base = vectors[index].iov_base {
                let result =
                    writing
                    ? session.write(from: base, count: vectors[index].iov_len)
                    : session.read(into: base, count: vectors[index].iov_len)
                switch result {
                case .success(let moved):
                    vectors[index].iov_base = base + moved
                    vectors[index].iov_len -= moved
                case .failure(let failure) where failure.code == EINTR:
                    continue
                case .failure(let failure):
                    throw Failure(
                        operation: failure.detail.isEmpty ? what : "\(what): TLS: \(failure.detail)", code: failure.code
                    )
                }
            }
        }
    }

    /// Receives exactly `count` bytes.
    package func receive(_ count: Int, _ what: String) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: Failure?
        bytes.withUnsafeMutableBytes { buffer in
            var vector = [iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)]
            do throws(Failure) { try receiveAll(&vector, what) } catch { failure = error }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Runs `call` (readv or sendmsg) until every vector is done, at most IOV_MAX vectors per call; through the TLS
    /// session instead when there is one.
    private func transferAll(
        _ vectors: inout [iovec], _ what: String, writing: Bool,
        _ call: (Int32, UnsafePointer<iovec>, Int32) -> Int
    ) throws(Failure) {
        if let tls { return try transferAll(&vectors, what, through: tls, writing: writing) }
        var first = 0
        while let start = vectors[first...].firstIndex(where: { $0.iov_len > 0 }) {
            first = start
            let count = min(vectors.count - first, 1024)  // IOV_MAX on Linux
            let moved = vectors.withUnsafeBufferPointer { call(fd, $0.baseAddress! + first, Int32(count)) }
            if moved < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: what, code: errno)
            }
            if moved == 0 { throw Failure(operation: what, code: Failure.closedCode) }
            var left = moved
            while left > 0 {
                let take = min(left, vectors[first].iov_len)
                vectors[first].iov_base = vectors[first].iov_base.map { $0 + take }
                vectors[first].iov_len -= take
                left -= take
                if vectors[first].iov_len == 0 { first += 1 }
            }
            if first == vectors.count { return }
        }
    }

    /// Makes `accept()` fail with EAGAIN instead of waiting when no connection is queued.
    func makeNonBlocking() { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

    /// What a receive that does not wait found.
    enum Available {
        /// These bytes (at least one).
        case bytes([UInt8])
        /// Nothing yet.
        case none
        /// End of stream or an error: the connection is over.
        case ended
    }

    /// Receives up to `limit` bytes that have already arrived, without waiting; on a TLS socket only looks at
    /// them (encrypted) without taking them, which is all a check for a closed idle connection needs.
    func receiveAvailable(upTo limit: Int) -> Available {
        var bytes = [UInt8](repeating: 0, count: limit)
        while true {
            let flags = Int32(MSG_DONTWAIT) | (tls == nil ? 0 : Int32(MSG_PEEK))
            let count = bytes.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, limit, flags) }
            if count > 0 { return .bytes(Array(bytes.prefix(count))) }
            if count == 0 { return .ended }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? .none : .ended
        }
    }

    /// Sends what the socket's buffer takes of `bytes` now, without waiting (on a TLS socket, as one record,
    /// which a blocking socket waits to take); for a short refusal on a connection that is about to be closed.
    func sendWithoutWaiting(_ bytes: [UInt8]) {
        if let tls {
            _ = bytes.withUnsafeBytes { tls.write(from: $0.baseAddress!, count: $0.count) }
            return
        }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    }

    /// Makes I/O on the socket wait (true) or fail with EAGAIN when it would have to (false).
    func setBlocking(_ blocking: Bool) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
    }

    /// Makes blocking receives fail with EAGAIN after `timeout` without data; nil waits forever again.
    package func setReceiveTimeout(_ timeout: Duration?) { setTimeout(SO_RCVTIMEO, timeout) }

    /// Makes blocking sends fail with EAGAIN after `timeout` without progress (a peer that stopped reading).
    package func setSendTimeout(_ timeout: Duration) { setTimeout(SO_SNDTIMEO, timeout) }

    /// Sets SO_RCVTIMEO or SO_SNDTIMEO; nil (or zero) waits forever.
    private func setTimeout(_ option: Int32, _ timeout: Duration?) {
        let nanoseconds = timeout?.nanoseconds ?? 0
        var value = timeval(tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int(nanoseconds % 1_000_000_000 / 1000))
        setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Makes blocked and later I/O on the socket fail; the descriptor stays open until `close()`.
    package func shutdown() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    package func close() { _ = Glibc.close(fd) }

    private static func address(host: String, port: UInt16) throws(Failure) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        if inet_pton(AF_INET, host, &address.sin_addr) == 1 { return address }
        address.sin_addr = try resolve(host)
        return address
    }

    /// The first IPv4 address DNS (or /etc/hosts) gives for `host`; blocks for the resolver's own timeout.
    private static func resolve(_ host: String) throws(Failure) -> in_addr {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &results)
        defer { if let results { freeaddrinfo(results) } }
        guard status == 0, let first = results, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no IPv4 address" : String(cString: gai_strerror(status))
            throw Failure(operation: "resolve '\(host)' (\(reason))", code: EHOSTUNREACH)
        }
        return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
    }
}
