import CUCX
import Glibc
import HandoffDataPlane

/// An endpoint to a peer's worker with the unpacked remote keys of the peer's pool.
final class UCXConnection {
    let id: UInt64
    let descriptor: PoolDescriptor
    let endpoint: ucp_ep_h
    let remoteKeys: [ucp_rkey_h]
    /// Whether the endpoint was created with UCX peer-failure handling (required for a forced close).
    let detectsFailures: Bool
    /// The handle given to the caller for this connection; jobs check it so that a handle from another transport
    /// instance never reaches this one's endpoint.
    weak var peer: RemotePeer?
    /// The transports of the endpoint's lanes, as `ucp_ep_print_info` reports them.
    private(set) var lowerTransports: [String] = []
    /// Set when UCX reported the endpoint failed; every later use fails with it.
    private(set) var failure: DataPlaneError?
    /// Keeps the error handler's argument alive until the endpoint is closed.
    private let holder: Unmanaged<UCXConnectionHolder>

    private init(
        id: UInt64, descriptor: PoolDescriptor, endpoint: ucp_ep_h, remoteKeys: [ucp_rkey_h], detectsFailures: Bool,
        holder: Unmanaged<UCXConnectionHolder>
    ) {
        self.detectsFailures = detectsFailures
        self.id = id
        self.descriptor = descriptor
        self.endpoint = endpoint
        self.remoteKeys = remoteKeys
        self.holder = holder
    }

    /// Creates the endpoint, unpacks every region's key and flushes the endpoint so the connection is known to
    /// work (or known not to) before any transfer relies on it.
    static func open(
        worker: ucp_worker_h, id: UInt64, descriptor: PoolDescriptor, detectFailures: Bool, timeout: Duration
    ) throws(DataPlaneError) -> UCXConnection {
        // The error handler needs a stable pointer before the endpoint exists: a box filled in once it does.
        let holder = UCXConnectionHolder()
        var params = ucp_ep_params_t()
        params.field_mask = UInt64(
            UCP_EP_PARAM_FIELD_REMOTE_ADDRESS.rawValue | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE.rawValue
                | UCP_EP_PARAM_FIELD_ERR_HANDLER.rawValue)
        params.err_mode = detectFailures ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE
        params.err_handler.cb = { arg, _, status in
            guard let arg else { return }
            let holder = Unmanaged<UCXConnectionHolder>.fromOpaque(arg).takeUnretainedValue()
            holder.connection?.markFailed(status: status)
        }
        let holderPointer = Unmanaged.passRetained(holder)
        params.err_handler.arg = holderPointer.toOpaque()
        var endpoint: ucp_ep_h?
        let status = descriptor.transportAddress.withUnsafeBytes { address in
            params.address = OpaquePointer(address.baseAddress)
            return ucp_ep_create(worker, &params, &endpoint)
        }
        guard status == UCS_OK, let endpoint else {
            holderPointer.release()
            throw .ucx(
                UCXError(operation: "ucp_ep_create(agent \(String(descriptor.agent, radix: 16)))", status: status))
        }
        var keys: [ucp_rkey_h] = []
        for (index, region) in descriptor.regions.enumerated() {
            var key: ucp_rkey_h?
            let unpacked = region.remoteKey.withUnsafeBytes { ucp_ep_rkey_unpack(endpoint, $0.baseAddress, &key) }
            guard unpacked == UCS_OK, let key else {
                closeEndpoint(worker: worker, endpoint: endpoint, force: detectFailures)
                for unpackedKey in keys { ucp_rkey_destroy(unpackedKey) }
                throw .ucx(UCXError(operation: "ucp_ep_rkey_unpack(region \(index))", status: unpacked))
            }
            keys.append(key)
        }
        let connection = UCXConnection(
            id: id, descriptor: descriptor, endpoint: endpoint, remoteKeys: keys, detectsFailures: detectFailures,
            holder: holderPointer)
        holder.connection = connection
        do {
            try connection.flush(worker: worker, timeout: timeout)
        } catch {
            connection.close(worker: worker)
            throw error
        }
        connection.lowerTransports = laneTransports(of: endpoint)
        return connection
    }

    /// Records that UCX declared the endpoint failed (peer gone, connection reset, keepalive timeout).
    func markFailed(status: ucs_status_t) {
        if failure == nil {
            failure = .peerFailed(
                agent: descriptor.agent, reason: String(cString: ucs_status_string(status)) + " (endpoint error)")
        }
    }

    /// Records a failure found by Handoff itself (a stalled transfer), so the endpoint is not used again.
    func markFailed(_ error: DataPlaneError) {
        if failure == nil { failure = error }
    }

    /// Waits, progressing the worker, until everything posted on the endpoint completed.
    private func flush(worker: ucp_worker_h, timeout: Duration) throws(DataPlaneError) {
        var param = ucp_request_param_t()
        let request = ucp_ep_flush_nbx(endpoint, &param)
        let status = Self.wait(worker: worker, request: request, timeout: timeout)
        if let failure { throw failure }
        if status == UCS_ERR_TIMED_OUT {
            throw .peerFailed(agent: descriptor.agent, reason: "no answer within \(timeout) while connecting")
        }
        try ucxCheck(status, "ucp_ep_flush_nbx(agent \(String(descriptor.agent, radix: 16)))")
    }

    /// Whether `close` ran.
    private(set) var isClosed = false

    /// Closes the endpoint, then destroys the keys (UCX wants keys outlived by every op that uses them).
    /// With peer-failure handling the close is forced, so outstanding operations complete with an error at once;
    /// without it (UCX allows forcing only with it) the close flushes, for at most 5 s. Idempotent.
    ///
    /// The error handler's argument is never released: UCX may still call the handler after a close that timed
    /// out, and one small object per closed connection is the price of never dangling.
    func close(worker: ucp_worker_h) {
        guard !isClosed else { return }
        isClosed = true
        markFailed(.peerFailed(agent: descriptor.agent, reason: "the connection was closed"))
        Self.closeEndpoint(worker: worker, endpoint: endpoint, force: detectsFailures)
        for key in remoteKeys { ucp_rkey_destroy(key) }
        holder.takeUnretainedValue().connection = nil
    }

    private static func closeEndpoint(worker: ucp_worker_h, endpoint: ucp_ep_h, force: Bool) {
        var param = ucp_request_param_t()
        param.op_attr_mask = UInt32(UCP_OP_ATTR_FIELD_FLAGS.rawValue)
        param.flags = force ? UInt32(UCP_EP_CLOSE_FLAG_FORCE.rawValue) : 0
        _ = wait(worker: worker, request: ucp_ep_close_nbx(endpoint, &param), timeout: .seconds(5))
    }

    /// Progresses `worker` until `request` completes or `timeout` passes; frees the request.
    static func wait(worker: ucp_worker_h, request: ucs_status_ptr_t?, timeout: Duration) -> ucs_status_t {
        guard let request else { return UCS_OK }
        if handoff_ucs_ptr_is_err(request) != 0 { return handoff_ucs_ptr_status(request) }
        let deadline = MonotonicClock.nanos() &+ timeout.nanoseconds
        var status = ucp_request_check_status(request)
        while status == UCS_INPROGRESS {
            if MonotonicClock.nanos() > deadline {
                ucp_request_cancel(worker, request)
                status = UCS_ERR_TIMED_OUT
                break
            }
            if ucp_worker_progress(worker) == 0 { usleep(50) }
            status = ucp_request_check_status(request)
        }
        ucp_request_free(request)
        return status
    }

    /// The transport names of the endpoint's lanes, read from `ucp_ep_print_info`.
    private static func laneTransports(of endpoint: ucp_ep_h) -> [String] {
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return [] }
        ucp_ep_print_info(endpoint, stream)
        fclose(stream)
        guard let buffer else { return [] }
        defer { free(buffer) }
        return UCXLaneInfo.transports(in: String(cString: buffer))
    }
}

/// Lets UCX's error callback find the connection without owning it.
final class UCXConnectionHolder {
    weak var connection: UCXConnection?
}
