import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// The active side of one benchmark: moves a KV-shaped plan between its pool and a passive peer's
/// (`BenchPeerSession`), checking every iteration's destination byte for byte. It is decode for READ and prefill
/// for WRITE. The peer is a `bench-peer` child on this host (`--local`) or a `handoff bench serve` elsewhere.
struct BenchInitiator {
    let options: WorkloadOptions
    let operation: TransferOperation
    /// Untimed transfers before the timed ones.
    let warmup: Int
    let iterations: Int
    let transferOptions: TransferOptions

    /// What the transfers measured, before the memcpy baseline.
    private struct Measurement {
        var workload: BenchWorkload
        var plans: [TransferPlan]
        /// One per timed iteration: its plans' reports merged.
        var reports: [TransferReport]
        var notified: Bool
        var fallbacks: [String: Int]?
    }

    /// The role the peer plays.
    var peerRole: BenchPeerSession.Role { operation == .read ? .source : .destination }

    /// `handoff bench --local`: the peer is a child process on this host.
    func runLocal() async throws -> BenchResult {
        let workload = try options.workload()  // an impossible workload fails here, before a peer starts
        let peer = try PeerProcess(arguments: ["bench-peer"] + options.arguments + ["--role", peerRole.rawValue])
        let measurement: Measurement
        do {
            measurement = try await measure(workload, over: peer.channel)
        } catch {
            peer.send(signal: SIGTERM)  // a sweep goes on to its next point: leave no peer behind
            await peer.finish(timeout: .seconds(2))
            throw error
        }
        let status = await peer.finish()
        guard status == 0 else { throw BenchError.peerFailed("exit status \(status)") }
        return result(of: measurement)
    }

    /// `handoff bench run --peer`: the peer is a `handoff bench serve`, told the parameters in a hello.
    func runRemote(_ address: HostPort, connectTimeout: Duration = .seconds(5)) async throws -> BenchResult {
        let workload = try options.workload()
        let socket: TCPSocket
        do {
            socket = try TCPSocket.connect(host: address.host, port: UInt16(address.port), timeout: connectTimeout)
        } catch {
            throw BenchError.peerFailed("cannot reach 'handoff bench serve' at \(address): \(error)")
        }
        defer { socket.close() }
        let channel = LineChannel(socket: socket)
        try channel.send("HELLO \(try BenchHello(role: peerRole, arguments: options.arguments).encoded())")
        return result(of: try await measure(workload, over: channel))
    }

    /// `warmup` untimed and `iterations` timed transfers, each followed by a check of the destination.
    private func measure(_ workload: BenchWorkload, over channel: LineChannel) async throws -> Measurement {
        let plans = try workload.plans()
        let pattern = BlockPattern(seed: options.seed)
        let transport = try options.makeTransport()
        let benchPool = try await BenchPool.makeOrShutDown(
            options.memory, layout: workload.layout, transport: transport)
        let pool = benchPool.pool
        if operation == .write { pool.fill(with: pattern) }
        do {
            let remote = try await transport.connect(
                to: try PoolDescriptor(decodingText: try await channel.receive("DESCRIPTOR")))
            var reports: [TransferReport] = []
            for iteration in 0..<(warmup + iterations) {
                try await resetDestination(pool, channel)
                var report: TransferReport?
                for plan in plans {
                    let planReport = try await transport.execute(
                        plan, operation, local: pool, remote: remote, options: transferOptions)
                    report = report.map { $0.followed(by: planReport) } ?? planReport
                }
                try await verifyDestination(pool, channel, pattern: pattern, workload: workload, iteration: iteration)
                if iteration >= warmup, let report { reports.append(report) }
            }
            try await transport.notify(remote, payload: Array("released".utf8))
            try channel.send("QUIT")
            let bye = try await channel.receive("BYE")
            await benchPool.release(from: transport)
            await transport.shutdown()
            return Measurement(
                workload: workload, plans: plans, reports: reports, notified: bye == "notified",
                fallbacks: (transport as? AutoTransport)?.fallbacks)
        } catch {
            await benchPool.release(from: transport)
            await transport.shutdown()
            throw error
        }
    }

    /// The result, with memcpy of the same byte count measured now.
    private func result(of measurement: Measurement) -> BenchResult {
        let plans = measurement.plans
        let reports = measurement.reports
        let bytes = plans.reduce(0) { $0 + $1.totalBytes }
        let ops = plans.reduce(0) { $0 + $1.ops.count }
        let memcpySeconds = MemcpyBaseline.medianSeconds(bytes: bytes, iterations: iterations)
        let median = reports.sorted { $0.totalSeconds < $1.totalSeconds }[reports.count / 2]
        let seconds = reports.map(\.totalSeconds).median
        let gbps = Double(bytes) / seconds / 1e9
        let memcpyGbps = Double(bytes) / memcpySeconds / 1e9
        var latencies = LatencySummary.histogram()
        for report in reports { latencies.add(report.opLatencyNanoseconds) }
        let latency = LatencySummary(nanoseconds: latencies)
        let layout = plans[0].source
        let kv = measurement.workload.prompt.map { prompt in
            TTFTEstimate(
                model: prompt.model.name, promptTokens: prompt.tokens, blockTokens: options.kvMode.blockTokens,
                blocks: layout.numBlocks,
                bytesPerToken: prompt.model.bytesPerToken, movedBytes: bytes, measuredSeconds: seconds)
        }
        return BenchResult(
            transport: median.transport, ucxTransports: median.lowerTransports,
            ucxTransportsRequested: options.ucxTransports ?? "default", memory: options.memory.rawValue, op: operation,
            pattern: options.pattern.rawValue, layers: layout.geometry.layers,
            blocks: layout.numBlocks, blockBytes: layout.geometry.pieceBytes, bytes: bytes, ops: ops,
            pieces: plans.reduce(0) { $0 + $1.pieceCount }, transfers: plans.count,
            window: transferOptions.maxOutstandingOps,
            warmup: warmup, iterations: iterations, seconds: seconds,
            postUs: reports.map(\.postSeconds).median * 1e6, opLatencyUs: latency, latencyUs: latency,
            opsPerS: Double(ops) / seconds, gbps: gbps,
            memcpyGbps: memcpyGbps, ratio: gbps / memcpyGbps, verified: true, notified: measurement.notified,
            tcpStreams: options.transport == .ucx ? nil : options.tcpStreams, fallbacks: measurement.fallbacks, kv: kv)
    }

    /// Zeroes the destination pool, so that each iteration's check sees only what that transfer wrote.
    private func resetDestination(_ pool: LocalPool, _ channel: LineChannel) async throws {
        switch operation {
        case .read:
            pool.zero()
        case .write:
            try channel.send("RESET")
            _ = try await channel.receive("OK")
        }
    }

    private func verifyDestination(
        _ pool: LocalPool, _ channel: LineChannel, pattern: BlockPattern, workload: BenchWorkload, iteration: Int
    ) async throws {
        switch operation {
        case .read:
            if let bad = pool.firstMismatch(pattern: pattern, moves: workload.moves) {
                throw BenchError.verificationFailed(
                    "iteration \(iteration): layer \(bad.layer) block \(bad.source)->\(bad.destination) kind \(bad.kind)"
                )
            }
        case .write:
            try channel.send("VERIFY")
            let verdict = try await channel.receive("VERIFIED")
            guard verdict == "ok" else { throw BenchError.verificationFailed("iteration \(iteration): \(verdict)") }
        }
    }
}
