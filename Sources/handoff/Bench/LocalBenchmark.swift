import Foundation
import HandoffCore
import HandoffDataPlane

/// `handoff bench --local`: a prefill and a decode process on this host move a KV-shaped plan between them.
/// This process initiates (it is decode for READ, prefill for WRITE); a `bench-peer` child holds the other pool.
struct LocalBenchmark {
    let options: WorkloadOptions
    let operation: TransferOperation
    let iterations: Int
    let transferOptions: TransferOptions

    /// Runs one warm-up and `iterations` timed transfers, each followed by a byte-for-byte check of the
    /// destination, then memcpy of the same byte count.
    func run() async throws -> BenchResult {
        let workload = try options.workload()
        let plan = try workload.plan()
        let pattern = BlockPattern(seed: options.seed)
        let peerRole: BenchPeerCommand.Role = operation == .read ? .source : .destination
        let peer = try PeerProcess(arguments: ["bench-peer"] + options.arguments + ["--role", peerRole.rawValue])
        let channel = peer.channel

        let transport = try options.makeTransport()
        let benchPool = try await BenchPool.make(options.memory, layout: workload.layout, transport: transport)
        let pool = benchPool.pool
        if operation == .write { pool.fill(with: pattern) }
        let remote = try await transport.connect(to: try PoolDescriptor(decodingText: try await channel.receive("DESCRIPTOR")))

        var reports: [TransferReport] = []
        for iteration in 0...iterations {
            try await resetDestination(pool, channel)
            let report = try await transport.execute(plan, operation, local: pool, remote: remote, options: transferOptions)
            try await verifyDestination(pool, channel, pattern: pattern, workload: workload, iteration: iteration)
            if iteration > 0 { reports.append(report) }
        }
        try await transport.notify(remote, payload: Array("released".utf8))
        try channel.send("QUIT")
        let bye = try await channel.receive("BYE")
        await benchPool.release(from: transport)
        await transport.shutdown()
        let status = await peer.finish()
        guard status == 0 else { throw BenchError.peerFailed("exit status \(status)") }

        let memcpySeconds = MemcpyBaseline.medianSeconds(bytes: plan.totalBytes, iterations: iterations)
        let median = reports.sorted { $0.totalSeconds < $1.totalSeconds }[reports.count / 2]
        let seconds = reports.map(\.totalSeconds).median
        let gbps = Double(plan.totalBytes) / seconds / 1e9
        let memcpyGbps = Double(plan.totalBytes) / memcpySeconds / 1e9
        return BenchResult(
            transport: median.transport, ucxTransports: median.lowerTransports,
            ucxTransportsRequested: options.ucxTransports ?? "default", memory: options.memory.rawValue, op: operation,
            pattern: workload.pattern.rawValue, layers: options.layers, blocks: options.blocks,
            blockBytes: workload.layout.geometry.pieceBytes, bytes: plan.totalBytes, ops: plan.ops.count,
            pieces: plan.pieceCount, iterations: iterations, seconds: seconds,
            postUs: reports.map(\.postSeconds).median * 1e6, opLatencyUs: median.opLatency, gbps: gbps,
            memcpyGbps: memcpyGbps, ratio: gbps / memcpyGbps, verified: true, notified: bye == "notified",
            tcpStreams: options.transport == .tcp ? options.tcpStreams : nil)
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
                    "iteration \(iteration): layer \(bad.layer) block \(bad.source)->\(bad.destination) kind \(bad.kind)")
            }
        case .write:
            try channel.send("VERIFY")
            let verdict = try await channel.receive("VERIFIED")
            guard verdict == "ok" else { throw BenchError.verificationFailed("iteration \(iteration): \(verdict)") }
        }
    }
}
