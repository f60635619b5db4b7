import COpenSSL
import Glibc

/// One TLS connection's OpenSSL state, over a socket whose descriptor it does not own (`TCPSocket` closes it).
///
/// Used by one thread at a time, as the socket is; another thread may still shut the socket down, which makes the
/// session's blocked I/O fail.
final class TLSSession: @unchecked Sendable {
    // @unchecked: see above; the SSL object is freed when the last socket value holding the session goes.
    private let ssl: OpaquePointer
    /// The BIO method of the session's socket BIO, freed after the session.
    private let method: OpaquePointer

    /// What one step of a handshake came to.
    enum Handshake {
        case done
        /// On a non-blocking socket: call again once it is readable (or writable).
        case wantsRead, wantsWrite
        case failed(String)
    }

    /// A session on `fd` from `context`, to accept (`server`) or to connect; the handshake is not started.
    init(fd: Int32, context: OpaquePointer, server: Bool) throws(DataPlaneTLSError) {
        ERR_clear_error()
        guard let method = handoff_socket_bio_method_new() else { throw .openSSL("BIO_meth_new failed") }
        guard let ssl = SSL_new(context) else {
            BIO_meth_free(method)
            throw .openSSL("SSL_new failed")
        }
        guard handoff_ssl_attach(ssl, fd, method) == 1 else {
            SSL_free(ssl)
            BIO_meth_free(method)
            throw .openSSL("cannot attach TLS to the socket")
        }
        if server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.method = method
    }

    deinit {
        SSL_free(ssl)
        BIO_meth_free(method)
    }

    /// Advances the handshake: on a blocking socket, to its end (a receive timeout reads as `wantsRead`).
    func handshake() -> Handshake {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantsRead
        case SSL_ERROR_WANT_WRITE: return .wantsWrite
        default: return .failed(failure(code, errno: errno))
        }
    }

    /// Decrypts up to `count` bytes into `pointer`: how many (at least one), or why none: an errno (EAGAIN when
    /// a receive timed out or nothing has arrived on a non-blocking socket), or `TCPSocket.Failure.closedCode`.
    func read(into pointer: UnsafeMutableRawPointer, count: Int) -> Result<Int, TLSSessionFailure> {
        ERR_clear_error()
        var moved = 0
        let result = SSL_read_ex(ssl, pointer, count, &moved)
        return result == 1 ? .success(moved) : .failure(ioFailure(result))
    }

    /// Encrypts and sends up to `count` bytes from `pointer` (on a blocking socket, all of them): how many, or
    /// why none, as for `read`.
    func write(from pointer: UnsafeRawPointer, count: Int) -> Result<Int, TLSSessionFailure> {
        ERR_clear_error()
        var moved = 0
        let result = SSL_write_ex(ssl, pointer, count, &moved)
        return result == 1 ? .success(moved) : .failure(ioFailure(result))
    }

    private func ioFailure(_ result: Int32) -> TLSSessionFailure {
        let savedErrno = errno
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_ZERO_RETURN:
            return TLSSessionFailure(code: TCPSocket.Failure.closedCode, detail: "")
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return TLSSessionFailure(code: EAGAIN, detail: "")
        case SSL_ERROR_SYSCALL where savedErrno != 0:
            return TLSSessionFailure(code: savedErrno, detail: "")
        case SSL_ERROR_SYSCALL:
            return TLSSessionFailure(code: TCPSocket.Failure.closedCode, detail: "")
        default:
            return TLSSessionFailure(code: EPROTO, detail: failure(code, errno: savedErrno))
        }
    }

    /// Why the handshake or a record failed: OpenSSL's errors, and the verdict on the peer's certificate.
    private func failure(_ code: Int32, errno savedErrno: Int32) -> String {
        var reason = DataPlaneTLSError.openSSLErrors()
        if reason.isEmpty {
            reason =
                code == SSL_ERROR_SYSCALL
                ? (savedErrno == 0 ? ": the peer closed the connection" : ": " + String(cString: strerror(savedErrno)))
                : ": SSL error \(code)"
        }
        let verdict = SSL_get_verify_result(ssl)
        if verdict != Int(X509_V_OK) {
            reason += " (peer certificate: " + String(cString: X509_verify_cert_error_string(verdict)) + ")"
        }
        return String(reason.dropFirst(2))
    }
}

/// Why TLS I/O failed: an errno, or `TCPSocket.Failure.closedCode`, and for a TLS error OpenSSL's reason.
struct TLSSessionFailure: Error {
    var code: Int32
    var detail: String
}
