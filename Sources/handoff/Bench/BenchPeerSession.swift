import ArgumentParser
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// The passive side of one benchmark: owns one pool and answers the initiator's line commands —
/// `DESCRIPTOR <base64>` once, then `VERIFY`, `RESET` and `QUIT`, ending with `BYE notified|not-notified`.
/// `handoff bench-peer` runs one over its stdin and stdout, `handoff bench serve` one per connection.
struct BenchPeerSession {
    typealias Role = BenchRole

    let options: WorkloadOptions
    let role: Role
    /// Where the native TCP data plane listens (and what it advertises); port 0: any free one.
    let listenHost: String
    var listenPort: UInt16 = 0

    func run(over channel: LineChannel) async throws {
        let workload = try options.workload()
        let pattern = BlockPattern(seed: options.seed)
        let transport = try options.makeTransport(listenHost: listenHost, listenPort: listenPort)
        let benchPool = try await BenchPool.makeOrShutDown(
            options.memory, layout: workload.layout, transport: transport)
        let pool = benchPool.pool
        if role == .source { pool.fill(with: pattern) }
        // The initiator sends one "released" notification before QUIT; it counts as received if it arrives
        // within a second of QUIT.
        let released = Task {
            for await _ in transport.notifications { return true }
            return false
        }
        do {
            try channel.send("DESCRIPTOR \(try transport.descriptor(of: pool).encodedText())")
            try await answerCommands(channel, pool: pool, pattern: pattern, workload: workload)
        } catch {
            released.cancel()
            await benchPool.release(from: transport)
            await transport.shutdown()
            throw error
        }
        let timer = Task {
            try await Task.sleep(for: .seconds(1))
            released.cancel()
        }
        let gotNotification = await released.value
        timer.cancel()
        await benchPool.release(from: transport)
        await transport.shutdown()
        try channel.send("BYE \(gotNotification ? "notified" : "not-notified")")
    }

    /// Answers commands until `QUIT`.
    private func answerCommands(
        _ channel: LineChannel, pool: LocalPool, pattern: BlockPattern, workload: BenchWorkload
    ) async throws {
        while true {
            switch try await channel.receive() {
            case "VERIFY":
                if let bad = pool.firstMismatch(pattern: pattern, moves: workload.moves) {
                    try channel.send(
                        "VERIFIED fail layer \(bad.layer) block \(bad.source)->\(bad.destination) kind \(bad.kind)")
                } else {
                    try channel.send("VERIFIED ok")
                }
            case "RESET":
                pool.zero()
                try channel.send("OK")
            case "QUIT":
                return
            default:
                try channel.send("ERROR unknown command")
            }
        }
    }
}
