import Foundation
import Glibc
import HandoffCore
import Synchronization

/// The serving side of the native TCP data plane: listens, and serves each connection on its own thread,
/// straight from and into the registered regions of the pool the connection's hello names.
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
        /// Every accepted socket whose thread has not closed it yet.
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
    private let listener: TCPSocket
    private let state = Mutex(State())
    private let notifications: AsyncStream<PeerNotification>.Continuation

    /// Starts listening on `host:port` and accepting on a thread of its own.
    init(host: String, port: UInt16, notifications: AsyncStream<PeerNotification>.Continuation) throws(DataPlaneError) {
        do {
            (listener, self.port) = try TCPSocket.listen(host: host, port: port)
        } catch {
            throw .peerFailed(agent: 0, reason: "cannot listen for TCP transfers: \(error)")
        }
        self.notifications = notifications
        startThread { [self] in acceptLoop() }
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
            if !state.stopping { listener.shutdown() }
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

    private func acceptLoop() {
        while true {
            let connection: TCPSocket
            do {
                connection = try listener.accept()
            } catch {
                if state.withLock({ $0.stopping }) { return }
                usleep(10_000)  // out of descriptors or memory, an aborted handshake: keep serving
                continue
            }
            let admitted = state.withLock { state in
                if state.stopping { return false }
                state.accepted.insert(connection.fd)
                return true
            }
            guard admitted else {
                connection.close()
                return
            }
            startThread { [self] in serve(connection) }
        }
    }

    // MARK: Serving one connection

    private func serve(_ connection: TCPSocket) {
        defer {
            state.withLock { _ = $0.accepted.remove(connection.fd) }
            connection.close()
        }
        guard let helloBytes = try? connection.receive(TCPWire.helloBytes, "receive hello") else { return }
        if helloBytes == DataPlaneProbe.greeting {
            serveProbe(connection)
            return
        }
        let hello: TCPWire.Hello
        do {
            hello = try TCPWire.decodeHello(helloBytes)
        } catch {
            refuse(connection, requestID: 0, "bad hello: \(error)")
            return
        }
        let attached: (id: UInt64, regions: [(address: UInt, length: Int)])? = state.withLock { state in
            guard !state.stopping, let pool = state.pools[hello.pool], pool.key == hello.key else { return nil }
            state.nextConnection += 1
            state.pools[hello.pool]?.connections[state.nextConnection] = connection.fd
            state.serving.insert(state.nextConnection)
            return (state.nextConnection, pool.regions)
        }
        guard let (id, regions) = attached else {
            refuse(
                connection, requestID: 0,
                "no pool \(hello.pool) with that key is served here (released, or a stale descriptor)")
            return
        }
        let context = Context(connection: id, pool: hello.pool, regions: regions, sender: hello.agent)
        defer {
            state.withLock { state in
                state.pools[hello.pool]?.connections[id] = nil
                state.serving.remove(id)
                state.grantsInUse[id] = nil
            }
        }
        do {
            try connection.send(
                TCPWire.encode(
                    TCPWire.Response(requestID: 0, status: TCPWire.Status.ok.rawValue, messageBytes: 0, payloadBytes: 0)
                ), "send hello answer")
            while try serveRequest(connection, context) {}
        } catch {
            // The client went away or the pool is being removed: nothing to answer.
        }
    }

    /// Answers a `DataPlaneProbe`, unless this port answers none or `maxConcurrentProbes` already.
    private func serveProbe(_ connection: TCPSocket) {
        let reply: TCPProbeSession.Reply = state.withLock { state in
            guard let provider = state.answerProvider else {
                return .refuse(
                    "this data plane does not answer topology probes (a worker answers when started by 'handoff worker')"
                )
            }
            guard state.probes < DataPlaneProbe.maxConcurrentProbes else {
                return .refuse("busy: \(DataPlaneProbe.maxConcurrentProbes) probes are being answered; try again")
            }
            state.probes += 1
            return .answer(provider)
        }
        TCPProbeSession(connection: connection, reply: reply).run()
        if case .answer = reply { state.withLock { $0.probes -= 1 } }
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
        do {
            headerBytes = try connection.receive(TCPWire.requestHeaderBytes, "receive request")
        } catch  where error.code == TCPSocket.Failure.closedCode {
            return false
        }
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
            notifications.yield(PeerNotification(sender: context.sender, payload: payload))
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
