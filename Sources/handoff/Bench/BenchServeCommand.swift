import ArgumentParser
import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Synchronization

/// `handoff bench serve`: the passive side of benchmarks that `handoff bench run --peer` starts from another
/// host, and of `handoff topo --peer` probes. Connections are served at once, up to `maxConnections`; one
/// benchmark runs at a time (two would measure each other), and a second is refused as busy; probes run beside it.
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve benchmark pools to 'handoff bench run --peer' on another host (or network namespace).")

    /// Connections served at once; more are answered `ERROR busy` and closed.
    static let maxConnections = 16
    /// How long an initiator may take to say hello, and how long a benchmark's control connection may stay silent.
    static let helloTimeout: Duration = .seconds(10)
    static let sessionIdleTimeout: Duration = .seconds(600)

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
        let server = Server(dataHost: listen.host, dataPort: dataPort)
        if once {
            while !(await server.serveOne(try await Self.accept(listener))) {}
            return
        }
        await withDiscardingTaskGroup { group in
            while true {
                guard let connection = try? await Self.accept(listener) else {
                    try? await Task.sleep(for: .milliseconds(10))  // out of descriptors, an aborted handshake
                    continue
                }
                guard server.slots.takeConnection() else {
                    try? LineChannel(socket: connection).send(
                        "ERROR busy: \(Self.maxConnections) connections are being served; try again")
                    connection.close()
                    continue
                }
                group.addTask {
                    _ = await server.serveOne(connection)
                    server.slots.releaseConnection()
                }
            }
        }
    }

    /// Serves connections: what every one of them shares.
    private struct Server: Sendable {
        var dataHost: String
        var dataPort: UInt16
        let slots = Slots()

        /// Serves `connection` to its end and closes it; whether it was a benchmark (a probe or a refusal is not).
        func serveOne(_ connection: TCPSocket) async -> Bool {
            defer { connection.close() }
            do {
                return try await serve(connection)
            } catch {
                FileHandle.standardError.write(Data("bench serve: \(error)\n".utf8))
                return false
            }
        }

        /// Reads the hello, then serves one benchmark session (or a topology probe); errors are sent to the
        /// initiator as `ERROR` lines.
        private func serve(_ connection: TCPSocket) async throws -> Bool {
            let channel = LineChannel(socket: connection)
            do {
                // A client that never says hello must not hold its connection.
                connection.setReceiveTimeout(BenchServeCommand.helloTimeout)
                let first = try await channel.receive()
                if first.hasPrefix("PROBE") {
                    // 'handoff topo --peer': each of its lines also has the hello's time.
                    try await PeerProbeServer().serve(first, over: channel)
                    return false
                }
                if first.hasPrefix("ERROR ") { throw BenchError.peerFailed(String(first.dropFirst("ERROR ".count))) }
                guard first.hasPrefix("HELLO ") else {
                    throw BenchError.protocolViolation(expected: "HELLO", got: String(first.prefix(200)))
                }
                let hello = try BenchHello.decode(String(first.dropFirst("HELLO ".count)))
                connection.setReceiveTimeout(BenchServeCommand.sessionIdleTimeout)
                let options: WorkloadOptions
                do {
                    options = try WorkloadOptions.parse(hello.arguments)
                    guard options.dataTLS.isEmpty else {
                        throw ValidationError("--data-tls names files on the initiator's host: it is for local runs")
                    }
                } catch {
                    throw BenchError.invalidOption(
                        "the initiator's options are invalid here: \(WorkloadOptions.message(for: error))")
                }
                guard slots.takeBenchmark() else {
                    throw BenchError.peerFailed("busy: another benchmark is running here; try again when it ends")
                }
                defer { slots.releaseBenchmark() }
                try await BenchPeerSession(
                    options: options, role: hello.role, listenHost: dataHost, listenPort: dataPort
                ).run(over: channel)
                return true
            } catch {
                try? channel.send("ERROR \(String(describing: error).split(separator: "\n").first ?? "")")
                throw error
            }
        }
    }

    /// Connections being served and whether a benchmark runs.
    private final class Slots: Sendable {
        private let state = Mutex((connections: 0, benchmark: false))

        func takeConnection() -> Bool {
            state.withLock { state in
                guard state.connections < BenchServeCommand.maxConnections else { return false }
                state.connections += 1
                return true
            }
        }

        func releaseConnection() { state.withLock { $0.connections -= 1 } }

        func takeBenchmark() -> Bool {
            state.withLock { state in
                defer { state.benchmark = true }
                return !state.benchmark
            }
        }

        func releaseBenchmark() { state.withLock { $0.benchmark = false } }
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
