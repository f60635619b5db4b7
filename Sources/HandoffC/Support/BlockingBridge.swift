import Dispatch
import Synchronization

/// Runs `body` as a Swift task and blocks the calling thread until it returns: how the C API's blocking calls
/// reach the async Swift API. Only for the caller's own (foreign) threads, never from a Swift task.
func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Value?>(nil)
    Task {
        let value = await body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}

/// Runs a throwing `body` as a Swift task and blocks the calling thread until it returns; its value or error.
func blockingResult<Value: Sendable, Failure: Error>(
    _ body: @escaping @Sendable () async throws(Failure) -> Value
) -> Result<Value, Failure> {
    runBlocking { () async -> Result<Value, Failure> in
        do throws(Failure) {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }
}

/// Pointers into memory the C caller owns (the engine's KV buffers), carried into the task that registers them.
/// The caller guarantees they stay valid until the pool is released; the data plane is what touches them.
struct CallerMemory<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) { self.value = value }
}
