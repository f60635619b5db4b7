import Foundation
import HandoffCore
import Synchronization

/// The client side of a connection to one peer pool: the peer's endpoints and key, and idle sockets that have
/// said hello, reused across transfers. A socket that failed is closed, never returned.
///
/// An idle socket is reused only within `maxIdleReuse` of its last request and only while the server has not
/// closed it, so that the server's idle timeout (`TCPServerLimits.idleTimeout`) never fails a request.
final class TCPPeerLink: Sendable {
    /// How long a socket may sit idle and still be reused.
    static let maxIdleReuse: Duration = .seconds(30)

    let descriptor: PoolDescriptor
    let endpoints: [(host: String, port: UInt16)]
    private let hello: TCPWire.Hello
    private let connectTimeout: Duration
    private let tls: DataPlaneTLSContexts?
    private let idle = Mutex<(sockets: [IdleSocket], closed: Bool)>(([], false))

    private struct IdleSocket {
        var socket: TCPSocket
        var since: ContinuousClock.Instant
    }

    /// - Throws: `DataPlaneError.incompatibleDescriptor` for a descriptor without TCP endpoints or key.
    init(
        descriptor: PoolDescriptor, agent: UInt64, connectTimeout: Duration, tls: DataPlaneTLSContexts?
    ) throws(DataPlaneError) {
        guard let endpoints = TCPEndpoints.decode(descriptor.transportAddress), !endpoints.isEmpty else {
            throw .incompatibleDescriptor("the descriptor names no TCP endpoint")
        }
        guard let keyBytes = descriptor.regions.first?.remoteKey, keyBytes.count == 16 else {
            throw .incompatibleDescriptor("the descriptor carries no TCP pool key")
        }
        var reader = ByteReader(keyBytes)
        let pool = (try? reader.read(UInt64.self, "pool")) ?? 0
        let key = (try? reader.read(UInt64.self, "key")) ?? 0
        self.descriptor = descriptor
        self.endpoints = endpoints
        self.hello = TCPWire.Hello(pool: pool, key: key, agent: agent)
        self.connectTimeout = connectTimeout
        self.tls = tls
    }

    /// `count` sockets ready for requests: idle ones first (unless `reusingIdle` is false), new ones for the rest.
    /// New connections are opened on a thread of their own: resolving, connecting and the hello block for up to
    /// the connect timeout each, which must not hold one of the few cooperative threads.
    /// - Throws: `DataPlaneError.peerFailed` when the peer cannot be reached or refuses the pool.
    func checkOut(_ count: Int, reusingIdle: Bool = true) async throws(DataPlaneError) -> [TCPSocket] {
        let sockets = reusingIdle ? takeIdle(count) : []
        guard sockets.count < count else { return sockets }
        let opened: Result<[TCPSocket], DataPlaneError> = await withCheckedContinuation { continuation in
            let thread = Thread { [self] in
                continuation.resume(returning: Result { () throws(DataPlaneError) in try open(count - sockets.count) })
            }
            thread.name = "handoff-tcp-connect"
            thread.start()
        }
        switch opened {
        case .success(let new): return sockets + new
        case .failure(let error):
            for socket in sockets { socket.close() }
            throw error
        }
    }

    /// Opens `count` connections, all or none.
    private func open(_ count: Int) throws(DataPlaneError) -> [TCPSocket] {
        var sockets: [TCPSocket] = []
        do {
            while sockets.count < count { sockets.append(try open()) }
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
        return sockets
    }

    /// Up to `count` idle sockets still fit for a request, most recently used first; closes the stale ones.
    private func takeIdle(_ count: Int) -> [TCPSocket] {
        let oldest = ContinuousClock.now - Self.maxIdleReuse
        let (fresh, stale) = idle.withLock { idle in
            let stale = idle.sockets.filter { $0.since < oldest }
            idle.sockets.removeAll { $0.since < oldest }
            let taken = Array(idle.sockets.suffix(count))
            idle.sockets.removeLast(taken.count)
            return (taken, stale)
        }
        for entry in stale { entry.socket.close() }
        var usable: [TCPSocket] = []
        for entry in fresh {
            // Between requests the server sends nothing: a readable socket was closed (or broken) by the peer.
            if case .none = entry.socket.receiveAvailable(upTo: 1) {
                usable.append(entry.socket)
            } else {
                entry.socket.close()
            }
        }
        return usable
    }

    /// Returns healthy sockets for reuse.
    func checkIn(_ sockets: [TCPSocket]) {
        let now = ContinuousClock.now
        let keep = idle.withLock { idle in
            if idle.closed { return false }
            idle.sockets += sockets.map { IdleSocket(socket: $0, since: now) }
            return true
        }
        if !keep { for socket in sockets { socket.close() } }
    }

    /// Closes the idle sockets; sockets checked out are closed when checked in.
    func close() {
        let sockets = idle.withLock { idle in
            idle.closed = true
            defer { idle.sockets = [] }
            return idle.sockets
        }
        for entry in sockets { entry.socket.close() }
    }

    /// Connects to the first endpoint that answers and says hello.
    private func open() throws(DataPlaneError) -> TCPSocket {
        var failures: [String] = []
        for endpoint in endpoints {
            switch try greet(endpoint) {
            case .success(let socket): return socket
            case .failure(let failure): failures.append("\(failure)")
            }
        }
        throw .peerFailed(
            agent: descriptor.agent, reason: "no TCP endpoint answered: " + failures.joined(separator: "; "))
    }

    /// Connects to `endpoint` and says hello, waiting at most the connect timeout for the answer; the socket, or
    /// why the endpoint did not answer.
    /// - Throws: `DataPlaneError.peerFailed` when the peer answered with a refusal.
    private func greet(
        _ endpoint: (host: String, port: UInt16)
    ) throws(DataPlaneError) -> Result<TCPSocket, TCPSocket.Failure> {
        var socket: TCPSocket
        do {
            socket = try TCPSocket.connect(host: endpoint.host, port: endpoint.port, timeout: connectTimeout)
        } catch {
            return .failure(error)
        }
        if let tls {
            socket = try handshake(socket, tls, endpoint)
        }
        do {
            socket.setReceiveTimeout(connectTimeout)
            try socket.send(TCPWire.encode(hello), "send hello")
            let answer: TCPWire.Response
            do {
                answer = try TCPWire.decodeResponse(
                    try socket.receive(TCPWire.responseHeaderBytes, "receive hello answer"))
            } catch let error as WireFormatError {
                socket.close()
                throw DataPlaneError.peerFailed(agent: descriptor.agent, reason: "malformed hello answer: \(error)")
            }
            if answer.status != TCPWire.Status.ok.rawValue {
                let message = String(
                    decoding: try socket.receive(answer.messageBytes, "receive refusal"), as: UTF8.self)
                socket.close()
                throw DataPlaneError.peerFailed(
                    agent: descriptor.agent, reason: "the peer refused the connection: \(message)")
            }
            socket.setReceiveTimeout(nil)
            return .success(socket)
        } catch let error as DataPlaneError {
            throw error
        } catch let error as TCPSocket.Failure {
            socket.close()
            return .failure(error)
        } catch {
            socket.close()
            return .failure(TCPSocket.Failure(operation: "\(error)", code: EIO))
        }
    }

    /// Runs the TLS handshake on a connected socket, within the connect timeout; the socket speaking TLS.
    /// - Throws: `DataPlaneError.peerFailed` with OpenSSL's reason (an untrusted certificate, a peer without TLS).
    private func handshake(
        _ socket: TCPSocket, _ tls: DataPlaneTLSContexts, _ endpoint: (host: String, port: UInt16)
    ) throws(DataPlaneError) -> TCPSocket {
        func failed(_ reason: String) -> DataPlaneError {
            socket.close()
            return .peerFailed(
                agent: descriptor.agent,
                reason: "TLS handshake with \(endpoint.host):\(endpoint.port) failed: \(reason)")
        }
        let session: TLSSession
        do {
            session = try TLSSession(fd: socket.fd, context: tls.client, server: false)
        } catch {
            throw failed(error.description)
        }
        socket.setReceiveTimeout(connectTimeout)
        socket.setSendTimeout(connectTimeout)
        switch session.handshake() {
        case .done: break
        case .wantsRead, .wantsWrite: throw failed("no answer within \(connectTimeout)")
        case .failed(let reason): throw failed(reason + " (does the peer use TLS, with a certificate from this CA?)")
        }
        socket.setSendTimeout(.zero)
        return TCPSocket(fd: socket.fd, tls: session)
    }
}
