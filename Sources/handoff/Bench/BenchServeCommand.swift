import ArgumentParser
import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// `handoff bench serve`: the passive side of benchmarks that `handoff bench run --peer` starts from another
/// host, and of `handoff topo --peer` probes. Each connection is one benchmark or probe, served to the end before
/// the next is accepted.
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve benchmark pools to 'handoff bench run --peer' on another host (or network namespace).")

    @Option(
        help: "HOST:PORT to listen on for benchmark connections; the native TCP data plane listens on the same host.")
    var listen = HostPort(host: "0.0.0.0", port: 7470)

    @Option(help: "Port of the native TCP data plane (0: any free one); fixed, it can be let through a firewall.")
    var dataPort: UInt16 = 0

    @Flag(help: "Serve one benchmark, then exit.")
    var once = false

    func run() async throws {
        let listener: TCPSocket
        let port: UInt16
        do {
            (listener, port) = try TCPSocket.listen(host: listen.host, port: UInt16(listen.port))
        } catch {
            throw BenchError.invalidOption("cannot listen on \(listen): \(error)")
        }
        defer { listener.close() }
        // Unbuffered: scripts wait for this line.
        FileHandle.standardOutput.write(Data("LISTENING \(listen.host):\(port)\n".utf8))
        repeat {
            let connection: TCPSocket
            do {
                connection = try await Self.accept(listener)
            } catch {
                try await Task.sleep(for: .milliseconds(10))  // out of descriptors, an aborted handshake: keep serving
                continue
            }
            do {
                try await serve(connection)
            } catch {
                FileHandle.standardError.write(Data("bench serve: \(error)\n".utf8))
            }
            connection.close()
        } while !once
    }

    /// Reads the hello, then serves one benchmark session (or a topology probe); errors are sent to the initiator
    /// as `ERROR` lines.
    private func serve(_ connection: TCPSocket) async throws {
        let channel = LineChannel(socket: connection)
        do {
            // A client that never says hello must not hold the server: the hello has 10 seconds.
            connection.setReceiveTimeout(.seconds(10))
            let first = try await channel.receive()
            if first.hasPrefix("PROBE") {
                // 'handoff topo --peer': each of its lines also has 10 seconds.
                return try await PeerProbeServer().serve(first, over: channel)
            }
            if first.hasPrefix("ERROR ") { throw BenchError.peerFailed(String(first.dropFirst("ERROR ".count))) }
            guard first.hasPrefix("HELLO ") else {
                throw BenchError.protocolViolation(expected: "HELLO", got: String(first.prefix(200)))
            }
            let hello = try BenchHello.decode(String(first.dropFirst("HELLO ".count)))
            connection.setReceiveTimeout(nil)
            let options: WorkloadOptions
            do {
                options = try WorkloadOptions.parse(hello.arguments)
            } catch {
                throw BenchError.invalidOption(
                    "the initiator's options are invalid here: \(WorkloadOptions.message(for: error))")
            }
            try await BenchPeerSession(
                options: options, role: hello.role, listenHost: listen.host, listenPort: dataPort
            ).run(over: channel)
        } catch {
            try? channel.send("ERROR \(String(describing: error).split(separator: "\n").first ?? "")")
            throw error
        }
    }

    /// Waits for the next connection on a thread of its own.
    private static func accept(_ listener: TCPSocket) async throws -> TCPSocket {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { () throws(TCPSocket.Failure) in try listener.accept() })
            }
            thread.name = "handoff-bench-accept"
            thread.start()
        }
    }
}
