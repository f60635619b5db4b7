import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// Text lines to and from another process, over pipes (`bench --local` and its child) or a TCP connection
/// (`bench run` and `bench serve`). Reads block a dispatch thread, never a task.
final class LineChannel: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case closed(String)
        case lineTooLong

        var description: String {
            switch self {
            case .closed(let what): "the peer closed its end or went silent (\(what))"
            case .lineTooLong: "the peer sent a line longer than \(LineChannel.maxLineBytes) bytes"
            }
        }
    }

    /// The longest line accepted.
    static let maxLineBytes = 1 << 20

    private enum Output {
        case file(FileHandle)
        /// Sockets are written with MSG_NOSIGNAL: a peer gone away is an error, not a SIGPIPE.
        case socket(TCPSocket)
    }

    private let input: FileHandle
    private let output: Output
    private let queue = DispatchQueue(label: "handoff.line-channel")

    init(input: FileHandle, output: FileHandle) {
        self.input = input
        self.output = .file(output)
    }

    /// Lines over a connected socket, which the caller closes after the channel's last use.
    init(socket: TCPSocket) {
        input = FileHandle(fileDescriptor: socket.fd, closeOnDealloc: false)
        output = .socket(socket)
    }

    /// Sends one line.
    func send(_ line: String) throws {
        switch output {
        case .file(let handle): try handle.write(contentsOf: Data((line + "\n").utf8))
        case .socket(let socket): try socket.send(Array((line + "\n").utf8), "send line")
        }
    }

    /// The next line, without its newline.
    /// - Throws: `Failure.closed` at end of input.
    func receive() async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [input] in
                var bytes: [UInt8] = []
                while true {
                    guard let chunk = try? input.read(upToCount: 1), let byte = chunk.first else {
                        return continuation.resume(throwing: Failure.closed("end of input after \(bytes.count) bytes"))
                    }
                    if byte == UInt8(ascii: "\n") { break }
                    if bytes.count == Self.maxLineBytes { return continuation.resume(throwing: Failure.lineTooLong) }
                    bytes.append(byte)
                }
                continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    /// The next line, which must start with `keyword`; returns the rest after one space.
    /// - Throws: `BenchError.peerFailed` with the peer's message when it answers `ERROR <message>`.
    func receive(_ keyword: String) async throws -> String {
        let line = try await receive()
        if line.hasPrefix("ERROR ") { throw BenchError.peerFailed(String(line.dropFirst("ERROR ".count))) }
        guard line == keyword || line.hasPrefix(keyword + " ") else {
            throw BenchError.protocolViolation(expected: keyword, got: String(line.prefix(200)))
        }
        return String(line.dropFirst(keyword.count).drop(while: { $0 == " " }))
    }
}
