import Foundation
import Glibc
import HandoffCore

/// A child process running this same executable, with a line channel to its stdin and stdout.
/// Its stderr goes to ours, so its errors are seen.
final class PeerProcess {
    let channel: LineChannel
    private let process: Process

    /// Starts `handoff <arguments>`, with `environment` added to ours.
    init(arguments: [String], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.ownExecutable())
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let toChild = Pipe()
        let fromChild = Pipe()
        process.standardInput = toChild
        process.standardOutput = fromChild
        try process.run()
        channel = LineChannel(input: fromChild.fileHandleForReading, output: toChild.fileHandleForWriting)
    }

    /// Waits up to `timeout` for the process to exit; kills it if it does not. Returns its exit status.
    @discardableResult
    func finish(timeout: Duration = .seconds(10)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Whether the process is still running.
    var isRunning: Bool { process.isRunning }

    /// Its resident memory now (VmRSS), bytes; nil once it has exited.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = line.split(separator: " ").compactMap({ Int($0) }).first
        else { return nil }
        return kib * 1024
    }

    /// How it ended, once it has: `exit N` or `signal N` (a crash: SIGILL for a Swift trap); nil while running.
    var ending: String? {
        guard !process.isRunning else { return nil }
        return process.terminationReason == .uncaughtSignal
            ? "signal \(process.terminationStatus)" : "exit \(process.terminationStatus)"
    }

    /// Sends `signal` (e.g. SIGTERM for a graceful stop, SIGKILL to simulate a crash).
    func send(signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The path of the running executable.
    static func ownExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw BenchError.peerFailed("cannot find this executable: /proc/self/exe unreadable") }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
