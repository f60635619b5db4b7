import CUCX
import HandoffCore
import HandoffDataPlane

/// Everything a worker loop's thread owns: the pools it mapped, its connections and the transfers in flight.
/// Used only on that thread.
final class UCXThreadState {
    /// The active-message id that carries notifications.
    static let notificationMessageID: UInt32 = 0x4846

    let context: ucp_context_h
    let worker: ucp_worker_h
    let agent: UInt64
    private let notifications: AsyncStream<PeerNotification>.Continuation
    private(set) var isClosed = false
    private var nextID: UInt64 = 1
    var pools: [UInt64: UCXMappedPool] = [:]
    var connections: [UInt64: UCXConnection] = [:]
    private var executions: [UCXTransferExecution] = []
    /// Transfers already answered whose ops UCX has not completed yet: kept alive because UCX holds them as
    /// callback user data, and so are their pools' mappings.
    private var abandoned: [UCXTransferExecution] = []

    init(
        context: ucp_context_h, worker: ucp_worker_h, agent: UInt64,
        notifications: AsyncStream<PeerNotification>.Continuation
    ) {
        self.context = context
        self.worker = worker
        self.agent = agent
        self.notifications = notifications
    }

    /// A new id for a pool or connection.
    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Starts a transfer; the loop pumps it until it finishes.
    func start(_ execution: UCXTransferExecution) {
        execution.localPool.transfersInFlight += 1
        if execution.pump() {
            execution.localPool.transferEnded(context: context)
        } else {
            executions.append(execution)
        }
    }

    /// Pumps every transfer in flight, removes the finished ones.
    /// - Returns: whether any transfer made progress that warrants another pass before sleeping.
    func pumpExecutions() -> Bool {
        guard !executions.isEmpty || !abandoned.isEmpty else { return false }
        let before = executions.count
        executions.removeAll { execution in
            guard execution.pump() else { return false }
            execution.localPool.transferEnded(context: context)
            return true
        }
        for execution in executions where execution.needsForcedClose {
            execution.connection.close(worker: worker)
        }
        // Ops that even closing their endpoint did not complete: answer the caller, keep the object for UCX.
        executions.removeAll { execution in
            guard execution.needsForcedClose && execution.connection.isClosed && execution.hasOpsInFlight else {
                return false
            }
            execution.abandon(
                with: .peerFailed(
                    agent: execution.connection.descriptor.agent, reason: "operations stuck after closing the endpoint")
            )
            abandoned.append(execution)
            return true
        }
        abandoned.removeAll { execution in
            guard !execution.hasOpsInFlight else { return false }
            execution.localPool.transferEnded(context: context)
            return true
        }
        return executions.count != before
    }

    /// Releases a pool: unmapped now, or once the transfers using it end.
    func releasePool(id: UInt64) {
        pools.removeValue(forKey: id)?.release(context: context)
    }

    /// How long the loop may sleep: until the nearest transfer deadline, at most 100 ms while transfers are in
    /// flight (so cancellations and their grace period are noticed), or indefinitely when idle.
    func pollTimeoutMillis() -> Int32 {
        guard let nearest = executions.map(\.deadlineNanos).min() else { return -1 }
        let now = MonotonicClock.nanos()
        let millis = nearest > now ? (nearest - now) / 1_000_000 + 1 : 0
        return Int32(min(millis, 100))
    }

    /// Registers the handler that turns incoming active messages into `PeerNotification`s.
    func installNotificationHandler() throws(DataPlaneError) {
        var params = ucp_am_handler_param_t()
        params.field_mask = UInt64(
            UCP_AM_HANDLER_PARAM_FIELD_ID.rawValue | UCP_AM_HANDLER_PARAM_FIELD_CB.rawValue
                | UCP_AM_HANDLER_PARAM_FIELD_ARG.rawValue)
        params.id = Self.notificationMessageID
        params.arg = Unmanaged.passUnretained(self).toOpaque()
        params.cb = { arg, header, headerLength, data, length, param in
            guard let arg, let header, headerLength == 8, let param,
                param.pointee.recv_attr & UInt64(UCP_AM_RECV_ATTR_FLAG_RNDV.rawValue) == 0,
                length <= maxNotificationBytes
            else { return UCS_OK }
            let state = Unmanaged<UCXThreadState>.fromOpaque(arg).takeUnretainedValue()
            let sender = header.loadUnaligned(as: UInt64.self)
            let payload = data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
            state.notifications.yield(PeerNotification(sender: UInt64(littleEndian: sender), payload: payload))
            return UCS_OK
        }
        try ucxCheck(ucp_worker_set_am_recv_handler(worker, &params), "ucp_worker_set_am_recv_handler")
    }

    /// Fails every transfer in flight, closes every connection, unmaps every pool. The state is closed after.
    func teardown() {
        isClosed = true
        for connection in connections.values { connection.close(worker: worker) }
        // Closing the endpoints completed whatever was in flight with an error.
        while ucp_worker_progress(worker) != 0 {}
        executions.removeAll { $0.pump() }
        for execution in executions { execution.abandon(with: .transportClosed) }
        // UCX may still hold them as user data until the worker is destroyed; the state outlives the worker.
        abandoned += executions
        executions.removeAll()
        connections.removeAll()
        for pool in pools.values { pool.unmap(context: context) }
        pools.removeAll()
        notifications.finish()
    }
}
