import Foundation
import Glibc
import HandoffCore
import Synchronization

/// The serving side of the native TCP data plane: listens, greets every new connection on one event-driven
/// thread (`TCPAcceptor`), and serves each connection that presented a pool's key on a thread of its own,
/// straight from and into the registered regions of that pool, within `TCPServerLimits`.
///
/// Every requested range is checked against the pool's regions, and on a pool that requires grants against the
/// blocks of the grant the request names, before a byte moves; a request that fails a check is refused with a
/// message and its connection closed. A pool is freed only after every connection serving it has stopped
/// (`remove`); revoking a grant ends the requests being served under it and returns once they have stopped
/// (`revoke`).
final class TCPServer: Sendable {
    struct ServedPool {
        var key: UInt64
        var regions: [(address: UInt, length: Int)]
        /// Whether requests must name a grant.
        var grantsRequired = false
        /// Connections serving this pool now: connection id → socket.
        var connections: [UInt64: Int32] = [:]
    }

    /// Sockets are shut down only under this lock, and a serving thread leaves `accepted` under it before it
    /// closes its socket, so a shutdown never reaches a descriptor number the kernel has handed out again.
    private struct State {
        var pools: [UInt64: ServedPool] = [:]
        /// Connections past their hello, whose thread may still touch a pool's memory.
        var serving: Set<UInt64> = []
        /// Live grants by token.
        var grants: [UInt64: GrantedBlocks] = [:]
        /// The grant each connection is serving a request under now.
        var grantsInUse: [UInt64: UInt64] = [:]
        /// Every socket past its hello (served or probing) whose thread has not closed it yet.
        var accepted: Set<Int32> = []
        /// What a `DataPlaneProbe` is answered with; nil: probes are refused.
        var answerProvider: DataPlaneProbe.AnswerProvider?
        /// Probes being answered now.
        var probes = 0
        var nextConnection: UInt64 = 0
        var threads = 0
        var stopping = false
        var stopped = false
    }

    let port: UInt16
    let limits: TCPServerLimits
    private let listener: TCPSocket
    private let acceptor: TCPAcceptor
    private let state = Mutex(State())
    private let notifications: AsyncStream<PeerNotification>.Continuation

    /// Starts listening on `host:port` and accepting on a thread of its own; with `tls`, only clients that complete
    /// a mutual TLS handshake get to say hello.
    init(
        host: String, port: UInt16, limits: TCPServerLimits, tls: DataPlaneTLSContexts?,
        notifications: AsyncStream<PeerNotification>.Continuation
    ) throws(DataPlaneError) {
        do {
            (listener, self.port) = try TCPSocket.listen(host: host, port: port)
            acceptor = try TCPAcceptor(listener: listener, limits: limits, tls: tls)
        } catch {
            throw .peerFailed(agent: 0, reason: "cannot listen for TCP transfers: \(error)")
        }
        self.limits = limits
        self.notifications = notifications
        startThread { [self] in acceptor.run { connection, hello in greeted(connection, hello) } }
    }

    /// Serves `regions` to clients that present `key` for pool `id`.
    func add(pool id: UInt64, key: UInt64, regions: [(address: UInt, length: Int)]) {
        state.withLock { $0.pools[id] = ServedPool(key: key, regions: regions) }
    }

    /// From now on, serves pool `id` only to requests under a live grant.
    func requireGrants(pool id: UInt64) {
        state.withLock { $0.pools[id]?.grantsRequired = true }
    }

    /// Answers `DataPlaneProbe`s on this port with `provider`'s line of JSON.
    func answerProbes(with provider: @escaping DataPlaneProbe.AnswerProvider) {
        state.withLock { $0.answerProvider = provider }
    }

    /// Serves the grant's blocks to requests that name `token`.
    func add(grant: GrantedBlocks, token: UInt64) {
        state.withLock { $0.grants[token] = grant }
    }

    /// Refuses later requests under `token` and ends the connections serving one now (a peer that stopped
    /// reading cannot hold the blocks); returns once no request under it is being served.
    func revoke(_ token: UInt64) async {
        state.withLock { state in
            guard let grant = state.grants.removeValue(forKey: token) else { return }
            for (connection, used) in state.grantsInUse where used == token {
                if let fd = state.pools[grant.pool]?.connections[connection] { TCPSocket(fd: fd).shutdown() }
            }
        }
        while state.withLock({ $0.grantsInUse.values.contains(token) }) {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Stops serving pool `id`: closes its connections and returns once none of them can touch its memory.
    func remove(pool id: UInt64) async {
        let ids = state.withLock { state in
            state.grants = state.grants.filter { $0.value.pool != id }
            let connections = state.pools.removeValue(forKey: id)?.connections ?? [:]
            for fd in connections.values { TCPSocket(fd: fd).shutdown() }
            return Set(connections.keys)
        }
        while state.withLock({ !$0.serving.isDisjoint(with: ids) }) {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Stops accepting and serving, including connections that never said hello; returns once every thread has
    /// ended. Idempotent.
    func stop() async {
        let first = state.withLock { state in
            defer { state.stopping = true }
            if !state.stopping { acceptor.stop() }
            for fd in state.accepted { TCPSocket(fd: fd).shutdown() }
            return !state.stopping
        }
        while state.withLock({ $0.threads }) > 0 {
            try? await Task.sleep(for: .milliseconds(1))
        }
        let close = state.withLock { state in
            defer { state.stopped = true }
            return first && !state.stopped
        }
        if close {
            listener.close()
            notifications.finish()
        }
    }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.threads += 1 }
        let thread = Thread { [self] in
            body()
            state.withLock { $0.threads -= 1 }
        }
        thread.name = "handoff-tcp"
        thread.start()
    }

    // MARK: Admitting a connection

    /// Decides, on the acceptor's thread, what a connection that has said hello gets: a thread serving its pool,
    /// a probe session, or a refusal.
    private func greeted(_ connection: TCPSocket, _ helloBytes: [UInt8]) {
        if helloBytes == DataPlaneProbe.greeting {
            startProbe(connection)
            return
        }
        let hello: TCPWire.Hello
        do {
            hello = try TCPWire.decodeHello(helloBytes)
        } catch {
            refuseAndClose(connection, "bad hello: \(error)")
            return
        }
        let admission: Result<Context, Refusal> = state.withLock { state in
            guard !state.stopping else { return .failure(.stopping) }
            guard let pool = state.pools[hello.pool], pool.key == hello.key else { return .failure(.unknownPool) }
            guard state.accepted.count < limits.maxConnections else { return .failure(.busy) }
            state.nextConnection += 1
            state.pools[hello.pool]?.connections[state.nextConnection] = connection.fd
            state.serving.insert(state.nextConnection)
            state.accepted.insert(connection.fd)
            return .success(
                Context(connection: state.nextConnection, pool: hello.pool, regions: pool.regions, sender: hello.agent))
        }
        switch admission {
        case .success(let context): startThread { [self] in serve(connection, context) }
        case .failure(let refusal): refuseAndClose(connection, refusal.message(limits))
        }
    }

    /// Why a hello is refused.
    private enum Refusal: Error {
        case stopping, unknownPool, busy

        func message(_ limits: TCPServerLimits) -> String {
            switch self {
            case .stopping: "this data plane is shutting down"
            case .unknownPool: "no pool with that id and key is served here (released, or a stale descriptor)"
            case .busy: "busy: \(limits.maxConnections) connections are being served; try again"
            }
        }
    }

    /// Starts a thread answering a `DataPlaneProbe`, unless this port answers none, or `maxConcurrentProbes` or
    /// `maxConnections` already.
    private func startProbe(_ connection: TCPSocket) {
        let provider: Result<DataPlaneProbe.AnswerProvider, ProbeRefusal> = state.withLock { state in
            guard !state.stopping else { return .failure(ProbeRefusal(reason: "this data plane is shutting down")) }
            guard let provider = state.answerProvider else {
                return .failure(
                    ProbeRefusal(
                        reason:
                            "this data plane does not answer topology probes (a worker answers when started by 'handoff worker')"
                    ))
            }
            guard state.probes < DataPlaneProbe.maxConcurrentProbes, state.accepted.count < limits.maxConnections
            else {
                return .failure(
                    ProbeRefusal(
                        reason: "busy: \(DataPlaneProbe.maxConcurrentProbes) probes are being answered; try again"))
            }
            state.probes += 1
            state.accepted.insert(connection.fd)
            return .success(provider)
        }
        switch provider {
        case .success(let provider):
            startThread { [self] in
                TCPProbeSession(connection: connection, reply: .answer(provider)).run()
                state.withLock { state in
                    state.probes -= 1
                    state.accepted.remove(connection.fd)
                }
                connection.close()
            }
        case .failure(let refusal):
            connection.sendWithoutWaiting(Array("ERROR \(refusal.reason)\n".utf8))
            connection.close()
        }
    }

    private struct ProbeRefusal: Error {
        var reason: String
    }

    /// Answers a refused hello without waiting for the client to read, and closes the connection.
    private func refuseAndClose(_ connection: TCPSocket, _ message: String) {
        let text = Array(message.utf8.prefix(TCPWire.maxMessageBytes))
        let response = TCPWire.Response(
            requestID: 0, status: TCPWire.Status.refused.rawValue, messageBytes: text.count, payloadBytes: 0)
        connection.sendWithoutWaiting(TCPWire.encode(response) + text)
        connection.close()
    }

    // MARK: Serving one connection

    /// Serves a connection admitted for `context`'s pool until it ends, is refused a request, stays silent past
    /// the idle timeout, or its pool is removed.
    private func serve(_ connection: TCPSocket, _ context: Context) {
        defer {
            state.withLock { state in
                state.pools[context.pool]?.connections[context.connection] = nil
                state.serving.remove(context.connection)
                state.grantsInUse[context.connection] = nil
                state.accepted.remove(connection.fd)
            }
            connection.close()
        }
        connection.setSendTimeout(limits.requestTimeout)
        do {
            try connection.send(
                TCPWire.encode(
                    TCPWire.Response(requestID: 0, status: TCPWire.Status.ok.rawValue, messageBytes: 0, payloadBytes: 0)
                ), "send hello answer")
            while try serveRequest(connection, context) {}
        } catch {
            // The client went away, stalled past a timeout, or the pool is being removed: nothing to answer.
        }
    }

    /// What a connection serves, fixed by its hello.
    private struct Context {
        var connection: UInt64
        var pool: UInt64
        var regions: [(address: UInt, length: Int)]
        var sender: UInt64
    }

    /// Serves one request; false when the connection must end (end of stream, or a refused request).
    private func serveRequest(_ connection: TCPSocket, _ context: Context) throws(TCPSocket.Failure) -> Bool {
        let regions = context.regions
        let headerBytes: [UInt8]
        connection.setReceiveTimeout(limits.idleTimeout)
        do {
            headerBytes = try connection.receive(TCPWire.requestHeaderBytes, "receive request")
        } catch  where error.code == TCPSocket.Failure.closedCode {
            return false
        }
        connection.setReceiveTimeout(limits.requestTimeout)
        let header: TCPWire.RequestHeader
        let ranges: [TCPWire.Range]
        do {
            header = try TCPWire.decodeRequestHeader(headerBytes)
            let rangeBytes = try connection.receive(header.rangeCount * TCPWire.rangeBytes, "receive ranges")
            ranges = try TCPWire.decodeRanges(
                rangeBytes, count: header.rangeCount, payloadBytes: header.kind == .notify ? 0 : header.payloadBytes)
        } catch let error as WireFormatError {
            refuse(connection, requestID: 0, "malformed request: \(error)")
            return false
        } catch let error as TCPSocket.Failure {
            throw error
        } catch {
            return false  // nothing else is thrown above
        }
        if header.kind == .notify {
            let payload = try connection.receive(header.payloadBytes, "receive notification")
            if case .dropped = notifications.yield(PeerNotification(sender: context.sender, payload: payload)) {
                refuse(
                    connection, requestID: header.requestID,
                    "\(limits.maxQueuedNotifications) notifications are waiting to be read here; try again later")
                return false
            }
            try connection.send(
                TCPWire.encode(
                    TCPWire.Response(requestID: header.requestID, status: 0, messageBytes: 0, payloadBytes: 0)),
                "answer notification")
            return true
        }
        var vectors: [iovec] = []
        vectors.reserveCapacity(ranges.count + 1)
        for range in ranges {
            guard range.region < regions.count, range.offset <= regions[range.region].length,
                range.length <= regions[range.region].length - range.offset
            else {
                let length = range.region < regions.count ? regions[range.region].length : 0
                refuse(
                    connection, requestID: header.requestID,
                    "range of \(range.length) bytes at offset \(range.offset) of region \(range.region) is outside the pool (\(regions.count) regions of \(length) bytes)"
                )
                return false
            }
            vectors.append(
                iovec(
                    iov_base: UnsafeMutableRawPointer(bitPattern: regions[range.region].address + UInt(range.offset)),
                    iov_len: range.length))
        }
        if let refusal = authorize(header, ranges, context) {
            refuse(connection, requestID: header.requestID, refusal)
            return false
        }
        defer { state.withLock { _ = $0.grantsInUse.removeValue(forKey: context.connection) } }
        switch header.kind {
        case .read:
            let answer = TCPWire.encode(
                TCPWire.Response(
                    requestID: header.requestID, status: 0, messageBytes: 0, payloadBytes: header.payloadBytes))
            try connection.send(answer, then: &vectors, "send read data")
        case .write:
            try connection.receiveAll(&vectors, "receive write data")
            try connection.send(
                TCPWire.encode(
                    TCPWire.Response(requestID: header.requestID, status: 0, messageBytes: 0, payloadBytes: 0)),
                "answer write")
        case .notify:
            break
        }
        return true
    }

    /// Checks the request against the grant it names, and marks the grant in use by this connection until the
    /// request is served; returns why it is refused, or nil.
    private func authorize(_ header: TCPWire.RequestHeader, _ ranges: [TCPWire.Range], _ context: Context) -> String? {
        let operation: TransferOperation = header.kind == .write ? .write : .read
        let lookup: Result<GrantedBlocks?, GrantRefusal> = state.withLock { state in
            if header.grant == 0 {
                // A pool removed meanwhile counts as requiring grants: nothing of it is served.
                return state.pools[context.pool]?.grantsRequired != false ? .failure(.missing) : .success(nil)
            }
            guard let grant = state.grants[header.grant] else { return .failure(.unknown) }
            guard grant.pool == context.pool else { return .failure(.otherPool(grant.pool)) }
            guard grant.operation == operation else { return .failure(.otherOperation(grant.operation)) }
            state.grantsInUse[context.connection] = header.grant
            return .success(grant)
        }
        let grant: GrantedBlocks
        switch lookup {
        case .success(nil): return nil
        case .success(let found?): grant = found
        case .failure(.missing): return "pool \(context.pool) serves only granted blocks and the request names no grant"
        case .failure(.unknown): return "grant \(String(header.grant, radix: 16)) is unknown or revoked"
        case .failure(.otherPool(let pool)):
            return "grant \(String(header.grant, radix: 16)) is for pool \(pool), not pool \(context.pool)"
        case .failure(.otherOperation(let granted)):
            return "grant \(String(header.grant, radix: 16)) allows \(granted.rawValue), not \(operation.rawValue)"
        }
        for range in ranges {
            if let block = grant.firstUngrantedBlock(offset: range.offset, length: range.length) {
                state.withLock { _ = $0.grantsInUse.removeValue(forKey: context.connection) }
                return
                    "block \(block) (region \(range.region), offset \(range.offset)) is outside grant \(String(header.grant, radix: 16))"
            }
        }
        return nil
    }

    private enum GrantRefusal: Error {
        case missing, unknown
        case otherPool(UInt64)
        case otherOperation(TransferOperation)
    }

    private func refuse(_ connection: TCPSocket, requestID: UInt64, _ message: String) {
        let text = Array(message.utf8.prefix(TCPWire.maxMessageBytes))
        let response = TCPWire.Response(
            requestID: requestID, status: TCPWire.Status.refused.rawValue, messageBytes: text.count, payloadBytes: 0)
        try? connection.send(TCPWire.encode(response) + text, "refuse")
    }
}
