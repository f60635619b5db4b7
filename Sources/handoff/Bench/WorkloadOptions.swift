import ArgumentParser
import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

extension BenchWorkload.Pattern: ExpressibleByArgument {}
extension TransferOperation: ExpressibleByArgument {}
extension PoolMemory: ExpressibleByArgument {}

/// One benchmark point's workload and data plane. Both processes take them: the initiator builds them for each
/// point of its sweep (`BenchSweepOptions`), and the peer (`bench-peer`, `bench serve`) parses the same arguments.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Layers of the KV cache (one memory region each).")
    var layers = 32

    @Option(help: "Blocks in each pool; every block is transferred.")
    var blocks = 256

    @Option(name: .customLong("block-kib"), help: "KiB of one block's K (or V) in one layer: the size of one piece.")
    var blockKiB = 32

    @OptionGroup var kvMode: KVModeOptions

    @Option(
        help:
            "contiguous: destination ids equal source ids; scattered: destination ids shuffled; layerwise: scattered, one layer per transfer."
    )
    var pattern: BenchWorkload.Pattern = .scattered

    @Option(help: "Seed for the scattered shuffle and the block content.")
    var seed: UInt64 = 1

    @Option(
        help:
            "The data plane to measure: ucx, tcp (Handoff's native TCP) or auto (UCX when both sides have it, TCP otherwise)."
    )
    var transport: TransportSelection = .ucx

    @Option(help: "Connections a native TCP transfer is striped over.")
    var tcpStreams = 4

    @Option(
        name: .customLong("ucx-transports"),
        help:
            "UCX transports to use, comma-separated (e.g. tcp, or posix,cma,self). Default: UCX_TLS when set, otherwise all of UCX's but tcp."
    )
    var ucxTransports: String?

    @Option(
        name: .customLong("data-tls"),
        parsing: .upToNextOption,
        help:
            "Mutual TLS on the native TCP data plane of both sides, with these PEM files: certificate, key and CA (local runs: both processes use them)."
    )
    var dataTLS: [String] = []

    @Option(
        help:
            "Who allocates both pools: ucx (the transport; for UCX, shared memory a same-host peer maps) or engine (this process allocates and registers, as an inference engine does)."
    )
    var memory: PoolMemory = .ucx

    func validate() throws {
        guard dataTLS.isEmpty || dataTLS.count == 3 else {
            throw ValidationError("--data-tls takes three files: certificate, key and CA")
        }
        try Self.checkShape(layers: [layers], blocks: [blocks], blockKiB: [blockKiB], tcpStreams: [tcpStreams])
    }

    /// Positive, and small enough that sizes computed from them cannot overflow (`bench serve` parses these from
    /// a remote initiator): at most 4,096 layers, 2^24 blocks, 1 GiB pieces and 256 TCP streams.
    static func checkShape(layers: [Int], blocks: [Int], blockKiB: [Int], tcpStreams: [Int]) throws {
        let limits = [
            ("--layers", layers, 4096), ("--blocks", blocks, 1 << 24), ("--block-kib", blockKiB, 1 << 20),
            ("--tcp-streams", tcpStreams, 256),
        ]
        for (name, values, limit) in limits where !values.allSatisfy({ (1...limit).contains($0) }) {
            throw ValidationError("\(name) must be between 1 and \(limit)")
        }
    }

    /// The transport to measure; its native TCP side listens on `listenHost` (loopback when both processes are
    /// on this host).
    func makeTransport(listenHost: String = "127.0.0.1", listenPort: UInt16 = 0) throws -> any Transport {
        try transport.make(
            ucxTransports: transportList,
            tcp: .init(listenHost: listenHost, listenPort: listenPort, streams: tcpStreams, tls: dataPlaneTLS))
    }

    /// The synthetic shape, or in KV mode the model's blocks for the prompt (the last one partly filled).
    ///
    /// - Throws: `BenchError.invalidOption` when one pool would take more than a third of this host's memory
    ///   (a `--local` run holds two, and the benchmark must not drive the host into swap or the OOM killer).
    func workload() throws -> BenchWorkload {
        let preset = try kvMode.model.map(ModelPreset.named)
        let geometry =
            preset?.geometry(blockTokens: kvMode.blockTokens)
            ?? KVGeometry(layers: layers, kindsPerBlock: 2, pieceBytes: blockKiB * 1024)
        let blocks = preset == nil ? self.blocks : (kvMode.promptTokens + kvMode.blockTokens - 1) / kvMode.blockTokens
        // Checked before the block lists are built: a mistyped count must fail at once, not after a huge shuffle.
        let (poolBytes, overflow) = geometry.blockBytes.multipliedReportingOverflow(by: blocks)
        let memory = ProcessInfo.processInfo.physicalMemory
        guard !overflow, UInt64(poolBytes) <= memory / 3 else {
            func gib(_ bytes: Double) -> String { String(format: "%.1f GiB", bytes / Double(1 << 30)) }
            throw BenchError.invalidOption(
                "a pool of \(gib(Double(geometry.blockBytes) * Double(blocks))) is more than a third of this host's "
                    + "\(gib(Double(memory))) of memory; give fewer --blocks, or --total-mib")
        }
        return try BenchWorkload(
            geometry: geometry, blocks: blocks, pattern: pattern, seed: seed,
            prompt: preset.map { ($0, kvMode.promptTokens) })
    }

    /// The UCX transport list, or nil for the default (see `UCXTransport.Configuration.defaultTransports`).
    var transportList: [String]? {
        ucxTransports.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// `--data-tls`, or nil.
    var dataPlaneTLS: DataPlaneTLS? {
        guard dataTLS.count == 3 else { return nil }
        return DataPlaneTLS(certificateChain: dataTLS[0], privateKey: dataTLS[1], trustRoots: dataTLS[2])
    }

    /// The same options as command-line arguments, to start the peer process with.
    var arguments: [String] {
        var arguments = [
            "--layers", "\(layers)", "--blocks", "\(blocks)", "--block-kib", "\(blockKiB)",
            "--pattern", pattern.rawValue, "--seed", "\(seed)", "--memory", memory.rawValue,
            "--transport", transport.rawValue, "--tcp-streams", "\(tcpStreams)",
        ]
        if let ucxTransports { arguments += ["--ucx-transports", ucxTransports] }
        if !dataTLS.isEmpty { arguments += ["--data-tls"] + dataTLS }
        return arguments + kvMode.arguments
    }
}
