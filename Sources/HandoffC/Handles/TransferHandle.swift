import CHandoff
import Glibc
import HandoffDataPlane
import Synchronization

/// What a `handoff_transfer *` points to: one running or finished transfer, with a pipe whose read end becomes
/// readable when it ends.
final class TransferHandle: Sendable {
    private enum State {
        case running(Task<Void, Never>?)
        case finished(Result<TransferReport, DataPlaneError>)
    }

    /// Readable once the transfer has ended; never read, so it stays readable.
    let fileDescriptor: Int32
    /// The pipe's write end: one byte when the transfer ends.
    private let signalDescriptor: Int32
    private let state = Mutex(State.running(nil))

    /// Starts `body` as a task.
    /// - Throws: `CFailure` when no pipe can be made (descriptor limit).
    init(_ body: @escaping @Sendable () async throws(DataPlaneError) -> TransferReport) throws(CFailure) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            throw CFailure(HANDOFF_E_TRANSPORT, "pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = ends[0]
        signalDescriptor = ends[1]
        let task = Task { [self] in
            let result: Result<TransferReport, DataPlaneError>
            do throws(DataPlaneError) {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            finish(result)
        }
        state.withLock { state in
            if case .running = state { state = .running(task) }
        }
    }

    deinit {
        Glibc.close(fileDescriptor)
        Glibc.close(signalDescriptor)
    }

    /// The result once ended; nil while running.
    var result: Result<TransferReport, DataPlaneError>? {
        state.withLock { state in
            if case .finished(let result) = state { return result }
            return nil
        }
    }

    /// Blocks up to `milliseconds` (negative: forever) for the end; returns the result, nil when still running.
    func wait(milliseconds: Int64) -> Result<TransferReport, DataPlaneError>? {
        var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        let deadline = ContinuousClock.now + .milliseconds(max(0, milliseconds))
        while result == nil {
            let left = milliseconds < 0 ? Int32(-1) : Int32(clamping: max(0, (deadline - .now).nanoseconds / 1_000_000))
            // An interrupted poll waits again, for what is left of the timeout only.
            guard poll(&descriptor, 1, left) < 0, errno == EINTR else { break }
        }
        return result
    }

    /// Asks the transfer to stop; the data plane then ends it with `cancelled`.
    func cancel() {
        state.withLock { state in
            if case .running(let task) = state { task?.cancel() }
        }
    }

    private func finish(_ result: Result<TransferReport, DataPlaneError>) {
        state.withLock { $0 = .finished(result) }
        var byte: UInt8 = 1
        _ = write(signalDescriptor, &byte, 1)
    }
}
