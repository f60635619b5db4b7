import Foundation
import Glibc
import Synchronization

/// The `handoff` executable that `swift build` put next to this test binary, run as a child process.
public final class HandoffProcess {
    public enum Failure: Error {
        case missingExecutable(String)
        case closed
        case notStopped(Int32)
    }

    public let process = Process()
    private let toChild = Pipe()
    private let fromChild = Pipe()

    /// The path of `handoff` beside the test bundle.
    public static func executablePath() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let own = String(decoding: buffer[..<max(length, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let path = URL(fileURLWithPath: own).deletingLastPathComponent().appendingPathComponent("handoff").path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw Failure.missingExecutable(path) }
        return path
    }

    private let errorsFromChild = Pipe()
    /// Standard error read so far, drained as it comes so that a chatty child never blocks on a full pipe.
    private let errors = Errors()
    private let capturesErrors: Bool

    private final class Errors: Sendable {
        private let data = Mutex(Data())
        private let done = DispatchSemaphore(value: 0)

        func drain(_ handle: FileHandle) {
            onOwnThread { [self] in
                while let chunk = try? handle.read(upToCount: 65_536), !chunk.isEmpty {
                    data.withLock { $0.append(chunk) }
                }
                done.signal()
            }
        }

        func text() -> String {
            done.wait()
            done.signal()
            return data.withLock { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Starts `handoff <arguments>`; in `namespace` through `env ip netns exec`, which exec each other (same
    /// process, so signals reach `handoff`).
    /// Standard error is kept for `errorOutput()` when `captureErrors` is set, and passed through otherwise.
    public init(_ arguments: [String], inNetworkNamespace namespace: String? = nil, captureErrors: Bool = false) throws
    {
        capturesErrors = captureErrors
        let handoff = try Self.executablePath()
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, handoff] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: handoff)
            process.arguments = arguments
        }
        process.standardInput = toChild
        process.standardOutput = fromChild
        if captureErrors { process.standardError = errorsFromChild }
        try process.run()
        if captureErrors { errors.drain(errorsFromChild.fileHandleForReading) }
    }

    /// Everything the child wrote to standard error; waits for the child to close it (with `captureErrors`).
    public func errorOutput() -> String { capturesErrors ? errors.text() : "" }

    /// Reads one line of the child's output (blocking a thread of its own, not the test's task).
    public func readLine() async throws -> String {
        let handle = fromChild.fileHandleForReading
        return try await withCheckedThrowingContinuation { continuation in
            onOwnThread {
                var bytes: [UInt8] = []
                while let chunk = try? handle.read(upToCount: 1), let byte = chunk.first {
                    if byte == UInt8(ascii: "\n") {
                        return continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
                    }
                    bytes.append(byte)
                }
                continuation.resume(throwing: Failure.closed)
            }
        }
    }

    public func send(_ line: String) throws {
        try toChild.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Waits for exit and returns the whole remaining output and the exit status.
    public func finish() async throws -> (output: String, status: Int32) {
        let handle = fromChild.fileHandleForReading
        let process = self.process
        let output = await withCheckedContinuation { continuation in
            onOwnThread {
                let data = (try? handle.readToEnd()) ?? Data()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        return (output, process.terminationStatus)
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Stops the child with SIGSTOP and waits until every one of its threads has stopped: a group stop is not
    /// immediate, and on a busy machine a thread can run on for milliseconds after `kill` returns.
    public func stop() async throws {
        signal(SIGSTOP)
        let pid = process.processIdentifier
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let states = threads.map { Self.state(of: "/proc/\(pid)/task/\($0)/stat") }
            if !states.isEmpty && states.allSatisfy({ $0 == "T" || $0 == "t" }) { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw Failure.notStopped(pid)
    }

    /// The state letter of a /proc stat file ("R", "S", "T", …); "?" when unreadable.
    private static func state(of statPath: String) -> Character {
        guard let stat = try? String(contentsOfFile: statPath, encoding: .utf8), let end = stat.lastIndex(of: ")")
        else { return "?" }
        return stat[stat.index(after: end)...].first { $0 != " " } ?? "?"
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs a blocking wait on a thread of its own: neither the tests' cooperative threads nor Dispatch's few global
/// threads (two on a 2-core machine) are held while a child process runs.
private func onOwnThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = "handoff-test-wait"
    thread.start()
}
