import Foundation
import Glibc

/// Runs `body` on a thread of its own and returns what it returns: for blocking work (a child process, a
/// compiler, a file system wait) that must not hold one of the few cooperative threads every test's tasks share.
/// On a two-core machine there are two; a test that blocks both for a second stalls every other test that long.
public func runOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = "handoff-test-blocking"
        thread.start()
    }
}

/// Runs a command to completion and returns its exit status and output (standard output and error together).
/// Blocks the calling thread: from a test's task, call `runCommandOnOwnThread`.
public func runCommand(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}

/// `runCommand` on a thread of its own.
public func runCommandOnOwnThread(
    _ executable: String, _ arguments: [String]
) async throws -> (status: Int32, output: String) {
    try await runOnOwnThread { try runCommand(executable, arguments) }
}

/// How long until the peer closes the connected socket `fd` (end of stream or a reset), reading and discarding
/// whatever it sends meanwhile; nil if it is still open after `limit`. Waits on a thread of its own, not on one of
/// the few threads every test's tasks share.
public func timeUntilClosed(fd: Int32, limit: Duration) async -> Duration? {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: waitUntilClosed(fd: fd, limit: limit)) }.start()
    }
}

private func waitUntilClosed(fd: Int32, limit: Duration) -> Duration? {
    let started = ContinuousClock.now
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let left = limit - (ContinuousClock.now - started)
        guard left > .zero else { return nil }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(
            left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
        guard poll(&poller, 1, milliseconds) > 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { return ContinuousClock.now - started }
    }
}
