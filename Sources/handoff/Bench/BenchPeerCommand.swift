import ArgumentParser
import Foundation
import HandoffCore
import HandoffDataPlane

/// The other process of `handoff bench --local`: owns one pool and answers the initiating process over
/// stdin/stdout — `DESCRIPTOR <base64>` once, then `VERIFY`, `RESET` and `QUIT` commands.
struct BenchPeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-peer",
        abstract: "Serve one pool for 'handoff bench --local' (started by it; speaks a line protocol on stdin/stdout).",
        shouldDisplay: false)

    enum Role: String, ExpressibleByArgument {
        /// Holds the source blocks (the prefill side).
        case source
        /// Receives the blocks (the decode side).
        case destination
    }

    @OptionGroup var workloadOptions: WorkloadOptions

    @Option(help: "Whether this process holds the source or the destination pool.")
    var role: Role

    func run() async throws {
        let workload = try workloadOptions.workload()
        let pattern = BlockPattern(seed: workloadOptions.seed)
        let transport = try workloadOptions.makeTransport()
        let benchPool = try await BenchPool.make(workloadOptions.memory, layout: workload.layout, transport: transport)
        let pool = benchPool.pool
        if role == .source { pool.fill(with: pattern) }
        // The initiator sends one "released" notification before QUIT; it counts as received if it arrives
        // within a second of QUIT.
        let released = Task {
            for await _ in transport.notifications { return true }
            return false
        }
        let channel = LineChannel(input: .standardInput, output: .standardOutput)
        try channel.send("DESCRIPTOR \(try transport.descriptor(of: pool).encodedText())")
        commands: while true {
            let command = try await channel.receive()
            switch command {
            case "VERIFY":
                if let bad = pool.firstMismatch(pattern: pattern, moves: workload.moves) {
                    try channel.send("VERIFIED fail layer \(bad.layer) block \(bad.source)->\(bad.destination) kind \(bad.kind)")
                } else {
                    try channel.send("VERIFIED ok")
                }
            case "RESET":
                pool.zero()
                try channel.send("OK")
            case "QUIT":
                break commands
            default:
                try channel.send("ERROR unknown command")
            }
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
}
