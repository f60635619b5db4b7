import CUCX
import HandoffCore
import HandoffDataPlane
import Histogram
import Synchronization

/// Set from any thread to ask a running transfer to stop.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// One plan in flight on a worker loop: posts `ucp_get_nbx` / `ucp_put_nbx` for its ops, at most `window` at
/// a time, records each op's latency and finishes once every op has completed — or, after a failure, a
/// cancellation or the deadline, once nothing it posted is still in flight.
final class UCXTransferExecution {
    /// How long a cancelled transfer waits for its in-flight ops before it closes the endpoint to stop them.
    static let cancelGraceNanos: UInt64 = 1_000_000_000

    /// Bytes UCX reserves in each request for us: the op's start time.
    static let requestUserBytes = 8

    typealias Completion = @Sendable (Result<TransferReport, DataPlaneError>) -> Void

    private let ops: [CopyOp]
    private let operation: TransferOperation
    /// The connection the ops go over.
    let connection: UCXConnection
    /// The local pool, kept mapped while any op may still touch it.
    let localPool: UCXMappedPool
    private let localBases: [UInt]
    private let localHandles: [ucp_mem_h]
    private let remoteBases: [UInt64]
    private let window: Int
    private let timeout: Duration
    private let deadline: UInt64
    private let cancellation: CancellationFlag
    private let completion: Completion
    private let pieces: Int
    private let bytes: Int

    private var nextOp = 0
    private var inFlight = 0
    private var completedOps = 0
    private var failure: DataPlaneError?
    /// Per-op latency in nanoseconds; two significant digits (1%) keep the histogram small (about 30 KB) for a
    /// per-transfer allocation.
    private var latencies = LatencySummary.histogram()
    private let startNanos: UInt64
    private var allPostedNanos: UInt64?
    private var requestParam = ucp_request_param_t()
    /// Set when ops outlived the deadline: the loop must close the endpoint to flush them out.
    private(set) var needsForcedClose = false
    /// When the loop first saw the cancellation while ops were in flight.
    private var cancelledAt: UInt64?
    /// For WRITE: the endpoint was flushed after the last put, so every byte is in the peer's memory.
    private var remotelyComplete = false

    init(
        plan: TransferPlan, operation: TransferOperation, local: UCXMappedPool, connection: UCXConnection,
        options: TransferOptions, startNanos: UInt64, cancellation: CancellationFlag, completion: @escaping Completion
    ) {
        self.ops = plan.ops
        self.operation = operation
        self.connection = connection
        self.localPool = local
        self.localBases = local.pool.regions.map(\.address)
        self.localHandles = local.memoryHandles
        self.remoteBases = connection.descriptor.regions.map(\.address)
        self.window = options.maxOutstandingOps
        self.timeout = options.timeout
        self.startNanos = startNanos
        self.deadline = startNanos &+ options.timeout.nanoseconds
        self.cancellation = cancellation
        self.completion = completion
        self.pieces = plan.pieceCount
        self.bytes = plan.totalBytes
    }

    /// Nanoseconds on the monotonic clock by which the transfer must be done.
    var deadlineNanos: UInt64 { deadline }

    /// Posts what the window allows and finishes the transfer when it is over.
    /// - Returns: whether the transfer is finished (and its completion called).
    func pump() -> Bool {
        if failure == nil, let connectionFailure = connection.failure { failure = connectionFailure }
        if failure == nil && cancellation.isSet {
            failure = .cancelled(completedOps: completedOps, totalOps: ops.count)
        }
        if failure == nil && nextOp < ops.count { post() }
        if inFlight > 0 {
            let now = MonotonicClock.nanos()
            if cancellation.isSet && cancelledAt == nil { cancelledAt = now }
            let cancelGraceOver = cancelledAt.map { now > $0 &+ Self.cancelGraceNanos } ?? false
            guard now > deadline || cancelGraceOver else { return false }
            let reason = failure ?? .timedOut(after: timeout, completedOps: completedOps, totalOps: ops.count)
            failure = reason
            // Ops still in flight are stuck, and must never land later in memory the caller has moved on from:
            // the loop force-closes the endpoint, which completes them with an error, and the connection is
            // marked unusable so that nobody relies on it again.
            connection.markFailed(reason)
            needsForcedClose = true
            return false
        }
        if failure == nil && nextOp < ops.count {
            if MonotonicClock.nanos() <= deadline { return false }
            failure = .timedOut(after: timeout, completedOps: completedOps, totalOps: ops.count)
        }
        // A completed put only means the local buffer is free again: the bytes are in the peer's memory once the
        // endpoint is flushed.
        if failure == nil && operation == .write && !remotelyComplete {
            flushEndpoint()
            if inFlight > 0 { return false }
        }
        finish()
        return true
    }

    private func post() {
        let userData = Unmanaged.passUnretained(self).toOpaque()
        requestParam.op_attr_mask = UInt32(
            UCP_OP_ATTR_FIELD_CALLBACK.rawValue | UCP_OP_ATTR_FIELD_USER_DATA.rawValue
                | UCP_OP_ATTR_FIELD_MEMH.rawValue)
        requestParam.user_data = userData
        requestParam.cb.send = { request, status, userData in
            guard let request, let userData else { return }
            let execution = Unmanaged<UCXTransferExecution>.fromOpaque(userData).takeUnretainedValue()
            execution.opCompleted(status: status, startNanos: request.load(as: UInt64.self))
            ucp_request_free(request)
        }
        let endpoint = connection.endpoint
        while nextOp < ops.count && inFlight < window && failure == nil {
            let op = ops[nextOp]
            let localRegion = operation == .read ? op.destinationRegion : op.sourceRegion
            let remoteRegion = operation == .read ? op.sourceRegion : op.destinationRegion
            let localOffset = operation == .read ? op.destinationOffset : op.sourceOffset
            let remoteOffset = operation == .read ? op.sourceOffset : op.destinationOffset
            let localAddress = UnsafeMutableRawPointer(bitPattern: localBases[localRegion] &+ UInt(localOffset))
            let remoteAddress = remoteBases[remoteRegion] &+ UInt64(remoteOffset)
            requestParam.memh = localHandles[localRegion]
            let started = MonotonicClock.nanos()
            let status: ucs_status_ptr_t? =
                switch operation {
                case .read:
                    ucp_get_nbx(
                        endpoint, localAddress, op.length, remoteAddress, connection.remoteKeys[remoteRegion],
                        &requestParam)
                case .write:
                    ucp_put_nbx(
                        endpoint, localAddress, op.length, remoteAddress, connection.remoteKeys[remoteRegion],
                        &requestParam)
                }
            nextOp += 1
            if let status {
                if handoff_ucs_ptr_is_err(status) != 0 {
                    failure = .ucx(
                        UCXError(
                            operation:
                                "ucp_\(operation == .read ? "get" : "put")_nbx(op \(nextOp - 1), \(op.length) bytes)",
                            status: handoff_ucs_ptr_status(status)))
                } else {
                    status.storeBytes(of: started, as: UInt64.self)
                    inFlight += 1
                }
            } else {
                completedOps += 1
                _ = latencies.record(MonotonicClock.nanos() &- started)
            }
        }
        if nextOp == ops.count && allPostedNanos == nil { allPostedNanos = MonotonicClock.nanos() }
    }

    private func flushEndpoint() {
        var param = ucp_request_param_t()
        param.op_attr_mask = UInt32(UCP_OP_ATTR_FIELD_CALLBACK.rawValue | UCP_OP_ATTR_FIELD_USER_DATA.rawValue)
        param.user_data = Unmanaged.passUnretained(self).toOpaque()
        param.cb.send = { request, status, userData in
            guard let userData else { return }
            let execution = Unmanaged<UCXTransferExecution>.fromOpaque(userData).takeUnretainedValue()
            execution.flushCompleted(status: status)
            if let request { ucp_request_free(request) }
        }
        let status = ucp_ep_flush_nbx(connection.endpoint, &param)
        guard let status else {
            remotelyComplete = true
            return
        }
        if handoff_ucs_ptr_is_err(status) != 0 {
            flushCompleted(status: handoff_ucs_ptr_status(status), request: false)
        } else {
            inFlight += 1
        }
    }

    private func flushCompleted(status: ucs_status_t, request: Bool = true) {
        if request { inFlight -= 1 }
        if status == UCS_OK {
            remotelyComplete = true
        } else if failure == nil {
            failure = connection.failure ?? .ucx(UCXError(operation: "ucp_ep_flush_nbx after the puts", status: status))
        }
    }

    private func opCompleted(status: ucs_status_t, startNanos: UInt64) {
        inFlight -= 1
        if status == UCS_OK {
            completedOps += 1
            _ = latencies.record(MonotonicClock.nanos() &- startNanos)
        } else if failure == nil {
            failure =
                connection.failure
                ?? .ucx(UCXError(operation: "\(operation == .read ? "get" : "put") completion", status: status))
        }
    }

    /// Whether ops the transfer posted may still complete (and so touch its memory and call back into it).
    var hasOpsInFlight: Bool { inFlight > 0 }

    /// Answers the caller with `error` although ops are still in flight, after closing their endpoint did not
    /// complete them. The loop keeps the object alive until they do, since UCX still holds it as user data.
    func abandon(with error: DataPlaneError) {
        failure = failure ?? error
        finish()
    }

    private var answered = false

    private func finish() {
        guard !answered else { return }
        answered = true
        if let failure { return completion(.failure(failure)) }
        let end = MonotonicClock.nanos()
        let posted = allPostedNanos ?? end
        completion(
            .success(
                TransferReport(
                    operation: operation, bytes: bytes, ops: ops.count, pieces: pieces, transport: "ucx",
                    lowerTransports: connection.lowerTransports,
                    postSeconds: Double(posted &- startNanos) / 1e9, completionSeconds: Double(end &- posted) / 1e9,
                    opLatencyNanoseconds: latencies)))
    }
}
