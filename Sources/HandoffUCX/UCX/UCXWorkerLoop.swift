import CUCX
import Foundation
import Glibc
import HandoffDataPlane
import Synchronization

/// One UCX context and worker, and the thread that owns and progresses them.
///
/// Every ucp call happens on the loop's thread: callers hand it jobs (`perform`, `submit`), which run between
/// progress passes. When nothing is in flight the thread sleeps in `poll` on the worker's event fd (armed with
/// `ucp_worker_arm`) and on an eventfd that new jobs signal, so an idle transport costs no CPU.
final class UCXWorkerLoop: @unchecked Sendable {
    // @unchecked Sendable: `context`, `worker` and `state` are used only on the loop's thread (by jobs and by
    // `run`), and after that thread has ended (by `close`). The job queue is guarded by `pending`.
    typealias Job = @Sendable (UCXThreadState) -> Void

    private struct Pending {
        var jobs: [Job] = []
        var stopping = false
        /// Set, with the queue drained, once the thread has released everything: later jobs run on the caller
        /// and see a closed state.
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let context: ucp_context_h
    let worker: ucp_worker_h
    /// The worker's packed address, which peers connect to.
    let workerAddress: [UInt8]
    /// Memory types the context can register (`ucp_context_query`).
    let memoryTypes: Set<MemoryType>
    private let state: UCXThreadState
    private let workerFD: Int32
    /// A pipe that `wake()` writes a byte into, so that `poll` returns; [read end, write end].
    private let wakePipe: (read: Int32, write: Int32)
    private let pending = Mutex(Pending())

    /// UCX's log messages go to standard error, from the first context on: by default UCX prints them to standard
    /// output, between the lines of `handoff bench --json`.
    private static let logToStandardError: Void = handoff_ucs_log_to_stderr_install()

    /// Creates the context with `transports` (nil: UCX_TLS) and `options` (UCX settings without the
    /// `UCX_` prefix), creates the worker and starts the thread.
    init(
        transports: [String]?, options: [String: String], agent: UInt64,
        notifications: AsyncStream<PeerNotification>.Continuation
    ) throws(DataPlaneError) {
        _ = Self.logToStandardError
        var config: OpaquePointer?
        try ucxCheck(ucp_config_read(nil, nil, &config), "ucp_config_read")
        defer { ucp_config_release(config) }
        var settings = options
        if let transports { settings["TLS"] = transports.joined(separator: ",") }
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            try ucxCheck(ucp_config_modify(config, key, value), "ucp_config_modify(\(key)=\(value))")
        }

        var params = ucp_params_t()
        params.field_mask = UInt64(UCP_PARAM_FIELD_FEATURES.rawValue | UCP_PARAM_FIELD_REQUEST_SIZE.rawValue)
        params.features = UInt64(UCP_FEATURE_RMA.rawValue | UCP_FEATURE_AM.rawValue | UCP_FEATURE_WAKEUP.rawValue)
        params.request_size = UCXTransferExecution.requestUserBytes
        var context: ucp_context_h?
        try ucxCheck(ucp_init(&params, config, &context), "ucp_init(TLS=\(settings["TLS"] ?? "default"))")
        guard let context else { throw .ucx(UCXError(operation: "ucp_init", status: UCS_ERR_NO_RESOURCE)) }

        var workerParams = ucp_worker_params_t()
        workerParams.field_mask = UInt64(UCP_WORKER_PARAM_FIELD_THREAD_MODE.rawValue)
        workerParams.thread_mode = UCS_THREAD_MODE_SINGLE
        var worker: ucp_worker_h?
        let status = ucp_worker_create(context, &workerParams, &worker)
        guard status == UCS_OK, let worker else {
            ucp_cleanup(context)
            throw .ucx(
                UCXError(operation: "ucp_worker_create", status: status == UCS_OK ? UCS_ERR_NO_RESOURCE : status))
        }
        var workerFD: Int32 = -1
        let fdStatus = ucp_worker_get_efd(worker, &workerFD)
        var pipeFDs: [Int32] = [-1, -1]
        var piped = pipe(&pipeFDs)
        for fd in pipeFDs where piped == 0 {
            piped = fcntl(fd, F_SETFL, O_NONBLOCK) == 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? 0 : -1
        }
        guard fdStatus == UCS_OK, piped == 0 else {
            for descriptor in pipeFDs where descriptor >= 0 { _ = Glibc.close(descriptor) }
            ucp_worker_destroy(worker)
            ucp_cleanup(context)
            throw .ucx(
                UCXError(
                    operation: "ucp_worker_get_efd / eventfd", status: fdStatus == UCS_OK ? UCS_ERR_IO_ERROR : fdStatus)
            )
        }
        var attributes = ucp_context_attr_t()
        attributes.field_mask = UInt64(UCP_ATTR_FIELD_MEMORY_TYPES.rawValue)
        if ucp_context_query(context, &attributes) != UCS_OK { attributes.memory_types = 1 }
        var types: Set<MemoryType> = [.host]
        if attributes.memory_types & (1 << UInt64(UCS_MEMORY_TYPE_CUDA.rawValue)) != 0 { types.insert(.cuda) }
        if attributes.memory_types & (1 << UInt64(UCS_MEMORY_TYPE_ROCM.rawValue)) != 0 { types.insert(.rocm) }
        var addressPointer: OpaquePointer?
        var addressLength = 0
        let addressStatus = ucp_worker_get_address(worker, &addressPointer, &addressLength)
        guard addressStatus == UCS_OK, let addressPointer else {
            ucp_worker_destroy(worker)
            ucp_cleanup(context)
            for descriptor in pipeFDs { _ = Glibc.close(descriptor) }
            throw .ucx(UCXError(operation: "ucp_worker_get_address", status: addressStatus))
        }
        self.workerAddress = Array(
            UnsafeRawBufferPointer(start: UnsafeRawPointer(addressPointer), count: addressLength))
        ucp_worker_release_address(worker, addressPointer)
        self.memoryTypes = types
        self.context = context
        self.worker = worker
        self.workerFD = workerFD
        self.wakePipe = (pipeFDs[0], pipeFDs[1])
        self.state = UCXThreadState(context: context, worker: worker, agent: agent, notifications: notifications)
        do {
            try state.installNotificationHandler()
        } catch {
            ucp_worker_destroy(worker)
            ucp_cleanup(context)
            throw error  // deinit closes the pipe
        }
        let thread = Thread { [self] in run() }
        thread.name = "handoff-ucx-\(String(agent, radix: 16))"
        thread.start()
    }

    deinit {
        // Closed only here: until the last reference goes, a late `wake()` may still write to it.
        Glibc.close(wakePipe.read)
        Glibc.close(wakePipe.write)
    }

    /// Queues `job` to run on the loop's thread.
    func submit(_ job: @escaping Job) {
        let accepted = pending.withLock { pending in
            guard !pending.exited else { return false }
            pending.jobs.append(job)
            return true
        }
        if accepted { wake() } else { job(state) }
    }

    /// Runs `body` on the loop's thread and returns its result.
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (UCXThreadState) throws(DataPlaneError) -> T
    ) async throws(DataPlaneError) -> T {
        let result: Result<T, DataPlaneError> = await withCheckedContinuation { continuation in
            submit { state in
                guard !state.isClosed else { return continuation.resume(returning: .failure(.transportClosed)) }
                do throws(DataPlaneError) {
                    continuation.resume(returning: .success(try body(state)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Wakes the thread, e.g. after a transfer was cancelled.
    func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakePipe.write, &byte, 1)
    }

    /// Fails whatever is in flight, releases every UCX resource and ends the thread. Idempotent.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = pending.withLock { pending in
                if !pending.exited {
                    pending.stopping = true
                    pending.exitWaiters.append(continuation)
                }
                return pending.exited
            }
            if exited { continuation.resume() } else { wake() }
        }
    }

    private func run() {
        while true {
            let (jobs, stopping) = pending.withLock { pending in
                defer { pending.jobs.removeAll(keepingCapacity: true) }
                return (pending.jobs, pending.stopping)
            }
            for job in jobs { job(state) }
            if stopping { break }
            var busy = false
            while ucp_worker_progress(worker) != 0 { busy = true }
            if state.pumpExecutions() { busy = true }
            if busy { continue }
            let status = ucp_worker_arm(worker)
            if status == UCS_ERR_BUSY { continue }
            // If the worker could not be armed its fd may never wake us: poll briefly instead of sleeping.
            let timeout = status == UCS_OK ? state.pollTimeoutMillis() : 1
            var fds = [
                pollfd(fd: workerFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, timeout)
            var drained = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            while Glibc.read(wakePipe.read, &drained, 32) == 32 {}
        }
        state.teardown()
        ucp_worker_destroy(worker)
        ucp_cleanup(context)
        let (late, waiters) = pending.withLock { pending in
            pending.exited = true
            defer {
                pending.jobs.removeAll()
                pending.exitWaiters.removeAll()
            }
            return (pending.jobs, pending.exitWaiters)
        }
        for job in late { job(state) }
        for waiter in waiters { waiter.resume() }
    }
}
