import Foundation
import Glibc
import HandoffCore
import HandoffDataPlane
import HandoffTopology
import HandoffUCX

/// The probing side of `handoff topo --peer`: asks a worker's native TCP data-plane port or a `handoff bench
/// serve` for its topology (`DataPlaneProbe`) and times round trips on the connection. Then, against
/// `bench serve`, it moves a short verified KV transfer with `--transport auto`, as a worker would, to see which
/// transport carries it; against a worker, which serves only granted blocks, it times a byte stream on the
/// worker's TCP port instead.
struct PeerProbe {
    let address: HostPort
    /// Round trips to time.
    var pings = 20
    /// MiB of the bandwidth probe; 0 skips it.
    var probeMiB = 64
    /// UCX transports for the probe (both sides), as workers' `--ucx-transports`; nil: UCX_TLS when set, otherwise all of UCX's but tcp.
    var ucxTransports: String?

    func run(local: NodeTopology) async -> PeerReport {
        var report = await probe(local: local)
        // Errors quote what the peer sent: no escape sequence of its own gets through to the terminal.
        report.error = report.error.map(UntrustedText.printable)
        report.probeError = report.probeError.map(UntrustedText.printable)
        return report
    }

    private func probe(local: NodeTopology) async -> PeerReport {
        var report = PeerReport(address: address.description, reachable: false)
        let start = ContinuousClock.now
        let socket: TCPSocket
        do {
            socket = try TCPSocket.connect(host: address.host, port: UInt16(address.port), timeout: .seconds(5))
        } catch {
            report.error = "cannot connect: \(error)"
            return report
        }
        defer { socket.close() }
        report.connectMilliseconds = Self.milliseconds(ContinuousClock.now - start)
        socket.setReceiveTimeout(.seconds(10))
        let channel = LineChannel(socket: socket)
        do {
            try socket.send(DataPlaneProbe.greeting, "send probe greeting")
            // Everything the peer says is printed later: no escape sequence of its own gets through.
            let first = UntrustedText.printableJSON(try await channel.receive())
            guard first.hasPrefix("TOPOLOGY ") else {
                report.error = "the peer refused the probe: \(first.prefix(300))"
                report.refused = first.hasPrefix("ERROR ")
                return report
            }
            let answer = Data(first.dropFirst("TOPOLOGY ".count).utf8)
            report.remote = try JSONDecoder().decode(NodeTopology.self, from: answer)
            let extras = try JSONDecoder().decode(AnswerExtras.self, from: answer)
            report.remoteFindings = extras.findings
            report.remoteWorker = extras.worker
            report.roundTrips = try await roundTrips(channel)
            if extras.worker != nil, probeMiB > 0 {
                do {
                    report.probe = try await streamProbe(channel, socket)
                } catch {
                    report.probeError = "\(error)"
                }
            }
            try? channel.send("QUIT")  // after a failed stream the connection may be gone; it closes below anyway
        } catch {
            report.error =
                "the peer did not answer the probe as a worker's data-plane port or 'handoff bench serve' does: \(error)"
            return report
        }
        report.reachable = true
        if !local.rdmaDevices.isEmpty {
            switch await Self.rdmaRoute(to: address.host) {
            case .success(let route): report.rdmaRoute = route
            case .failure(let error): report.rdmaRouteError = error
            }
        }
        report.localInterface = Self.interface(local, holding: Self.address(of: socket.fd, local: true))
        report.remoteInterface = report.remote.flatMap {
            Self.interface($0, holding: Self.address(of: socket.fd, local: false))
        }
        if report.remoteWorker == nil, probeMiB > 0 {
            do {
                report.probe = try await bandwidthProbe()
            } catch {
                report.probeError = "\(error)"
            }
        }
        return report
    }

    /// librdmacm's route to `host`, resolved on a dispatch thread: it blocks for up to its timeout.
    private static func rdmaRoute(to host: String) async -> Result<RDMARoute, RDMARouteError> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: RDMARouteResolver.resolve(ipv4: host)) }
        }
    }

    /// The parts of a probe answer beyond the topology.
    private struct AnswerExtras: Decodable {
        var findings: [Finding]
        var worker: ProbedWorker?
    }

    /// `probeMiB` MiB streamed by a worker's TCP port, timed from the request to the last byte.
    private func streamProbe(_ channel: LineChannel, _ socket: TCPSocket) async throws -> PeerReport.BandwidthProbe {
        let bytes = probeMiB << 20
        let start = ContinuousClock.now
        try channel.send("STREAM \(bytes)")
        let answer = try await channel.receive()
        guard answer == "STREAM \(bytes)" else {
            throw BenchError.protocolViolation(expected: "STREAM \(bytes)", got: String(answer.prefix(200)))
        }
        // Blocking reads, on a dispatch thread rather than one of the few the tasks share.
        let received: Int = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var received = 0
                do {
                    while received < bytes {
                        received += try socket.receive(min(1 << 20, bytes - received), "receive stream probe").count
                    }
                    continuation.resume(returning: received)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        let seconds = Self.milliseconds(ContinuousClock.now - start) / 1000
        return PeerReport.BandwidthProbe(
            kind: .tcpStream, transport: "tcp", ucxTransports: [], fallbacks: [:], bytes: received,
            gbps: Double(received) / seconds / 1e9,
            verified: false)
    }

    private func roundTrips(_ channel: LineChannel) async throws -> PeerReport.RoundTrips {
        var samples: [Double] = []
        for index in 0..<pings {
            let sent = ContinuousClock.now
            try channel.send("PING \(index)")
            _ = try await channel.receive("PONG \(index)")
            samples.append(Self.milliseconds(ContinuousClock.now - sent) * 1000)
        }
        samples.sort()
        return PeerReport.RoundTrips(
            count: samples.count, min: samples[0], median: samples[samples.count / 2], max: samples[samples.count - 1])
    }

    /// READ of `probeMiB` MiB in 1 MiB blocks, one layer, with the data plane workers run (`auto`).
    private func bandwidthProbe() async throws -> PeerReport.BandwidthProbe {
        let options = try WorkloadOptions.parse(
            [
                "--transport", "auto", "--layers", "1", "--blocks", "\(max(1, probeMiB / 2))", "--block-kib", "1024",
                "--pattern", "contiguous",
            ] + (ucxTransports.map { ["--ucx-transports", $0] } ?? []))
        let initiator = BenchInitiator(
            options: options, operation: .read, warmup: 1, iterations: 3,
            transferOptions: TransferOptions(maxOutstandingOps: 128, timeout: .seconds(30)))
        let result = try await initiator.runRemote(address)
        return PeerReport.BandwidthProbe(
            transport: result.transport, ucxTransports: result.ucxTransports, fallbacks: result.fallbacks ?? [:],
            bytes: result.bytes, gbps: result.gbps, verified: result.verified)
    }

    /// The interface of `topology` that holds the IPv4 address `address`.
    private static func interface(_ topology: NodeTopology, holding address: String?) -> String? {
        guard let address else { return nil }
        return topology.interfaces.first { $0.addresses.contains { $0 == address || $0.hasPrefix(address + "/") } }?
            .name
    }

    /// This end's (`local`) or the peer's IPv4 address of a connected socket.
    private static func address(of fd: Int32, local: Bool) -> String? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                local ? getsockname(fd, $0, &length) : getpeername(fd, $0, &length)
            }
        }
        guard status == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
