import Foundation
import ArgumentParser
import HandoffCore
import HandoffDataPlane

extension BenchWorkload.Pattern: ExpressibleByArgument {}
extension TransferOperation: ExpressibleByArgument {}
extension PoolMemory: ExpressibleByArgument {}

/// The options that shape a benchmark's workload and its UCX set-up; both benchmark processes take them.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Layers of the KV cache (one memory region each).")
    var layers = 32

    @Option(help: "Blocks in each pool; every block is transferred.")
    var blocks = 256

    @Option(name: .customLong("block-kib"), help: "KiB of one block's K (or V) in one layer: the size of one piece.")
    var blockKiB = 32

    @Option(help: "KV mode: derive layers, piece size and block count from this model preset (llama-3.1-8b, llama-3.1-70b, qwen2.5-7b, deepseek-v3, tiny) and --prompt-tokens, instead of --layers, --blocks and --block-kib.")
    var model: String?

    @Option(help: "KV mode: tokens of the prompt whose KV moves.")
    var promptTokens = 8192

    @Option(help: "KV mode: tokens per KV block (vLLM's block_size).")
    var blockTokens = 16

    @Option(help: "contiguous: destination ids equal source ids; scattered: destination ids shuffled.")
    var pattern: BenchWorkload.Pattern = .scattered

    @Option(help: "Seed for the scattered shuffle and the block content.")
    var seed: UInt64 = 1

    @Option(help: "The data plane to measure: ucx, tcp (Handoff's native TCP) or auto (UCX when both sides have it, TCP otherwise).")
    var transport: TransportSelection = .ucx

    @Option(help: "Connections a native TCP transfer is striped over.")
    var tcpStreams = 4

    @Option(name: .customLong("ucx-transports"), help: "UCX transports to use, comma-separated (e.g. tcp, or posix,cma,self). Default: UCX's choice.")
    var ucxTransports: String?

    @Option(help: "Who allocates both pools: ucx (the transport; for UCX, shared memory a same-host peer maps) or engine (this process allocates and registers, as an inference engine does).")
    var memory: PoolMemory = .ucx

    func validate() throws {
        guard layers > 0, blocks > 0, blockKiB > 0, tcpStreams > 0, promptTokens > 0, blockTokens > 0 else {
            throw ValidationError("--layers, --blocks, --block-kib, --tcp-streams, --prompt-tokens and --block-tokens must be positive")
        }
        if let model { _ = try ModelPreset.named(model) }
    }

    /// The transport to measure; its native TCP side listens on `listenHost` (loopback when both processes are
    /// on this host).
    func makeTransport(listenHost: String = "127.0.0.1", listenPort: UInt16 = 0) throws -> any Transport {
        try transport.make(ucxTransports: transportList, tcp: .init(listenHost: listenHost, listenPort: listenPort, streams: tcpStreams))
    }

    /// The synthetic shape, or in KV mode the model's blocks for the prompt (the last one partly filled).
    func workload() throws -> BenchWorkload {
        if let model {
            let preset = try ModelPreset.named(model)
            return try BenchWorkload(
                geometry: preset.geometry(blockTokens: blockTokens), blocks: (promptTokens + blockTokens - 1) / blockTokens,
                pattern: pattern, seed: seed, prompt: (preset, promptTokens))
        }
        return try BenchWorkload(
            geometry: KVGeometry(layers: layers, kindsPerBlock: 2, pieceBytes: blockKiB * 1024), blocks: blocks, pattern: pattern, seed: seed)
    }

    /// The UCX transport list, or nil for UCX's default.
    var transportList: [String]? {
        ucxTransports.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// The same options as command-line arguments, to start the peer process with.
    var arguments: [String] {
        var arguments = [
            "--layers", "\(layers)", "--blocks", "\(blocks)", "--block-kib", "\(blockKiB)",
            "--pattern", pattern.rawValue, "--seed", "\(seed)", "--memory", memory.rawValue,
            "--transport", transport.rawValue, "--tcp-streams", "\(tcpStreams)",
        ]
        if let ucxTransports { arguments += ["--ucx-transports", ucxTransports] }
        if let model { arguments += ["--model", model, "--prompt-tokens", "\(promptTokens)", "--block-tokens", "\(blockTokens)"] }
        return arguments
    }
}
