import ArgumentParser
import Foundation
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// What the initiating side of a benchmark measures: `handoff bench --local` and `handoff bench run` take these.
/// Most options take a list or a doubling range, and the benchmark then sweeps every combination, one point each.
struct BenchSweepOptions: ParsableArguments {
    @Option(help: "Layers of the KV cache (one memory region each). Sweeps: a list, or a doubling range such as 1..32.")
    var layers = SweepList(32)

    @Option(help: "Blocks in each pool; every block is transferred. Sweeps: a list or a doubling range.")
    var blocks = SweepList(256)

    @Option(
        name: .customLong("block-kib"),
        help:
            "KiB of one block's K (or V) in one layer: the size of one piece. Sweeps: a list, or a doubling range such as 4..65536 (4 KiB to 64 MiB)."
    )
    var blockKiB = SweepList(32)

    @Option(
        name: .customLong("total-mib"),
        help:
            "Size every point to move about this many MiB: its block count follows from the layers and the block size (at least 1 block). Overrides --blocks; keeps memory bounded in block-size sweeps."
    )
    var totalMiB: Int?

    @OptionGroup var kvMode: KVModeOptions

    @Option(
        help:
            "contiguous: destination ids equal source ids; scattered: destination ids shuffled; layerwise: scattered, moved one layer per transfer as a pushing prefill does. Sweeps: a list."
    )
    var pattern = SweepList(BenchWorkload.Pattern.scattered)

    @Option(help: "read: decode pulls (default); write: prefill pushes. Sweeps: read,write.")
    var op = SweepList(TransferOperation.read)

    @Option(
        help:
            "The data plane: ucx, tcp (Handoff's native TCP) or auto (UCX when both sides have it, TCP otherwise). Sweeps: a list."
    )
    var transport = SweepList(TransportSelection.ucx)

    @Option(
        name: .customLong("ucx-transports"),
        help:
            "UCX transports to use, comma-separated (e.g. tcp, or posix,cma,self). Default: UCX_TLS when set, otherwise all of UCX's but tcp. Sweeps: repeat the option, one set each."
    )
    var ucxTransports: [String] = []

    @Option(help: "Connections a native TCP transfer is striped over. Sweeps: a list or a doubling range.")
    var tcpStreams = SweepList(4)

    @Option(
        name: .customLong("data-tls"),
        parsing: .upToNextOption,
        help: "Mutual TLS on the native TCP data plane of both sides, with these PEM files: certificate, key and CA."
    )
    var dataTLS: [String] = []

    @Option(help: "Most ops in flight at once. Sweeps: a list or a doubling range.")
    var window = SweepList(128)

    @Option(
        help:
            "Who allocates both pools: ucx (the transport; for UCX, shared memory a same-host peer maps) or engine (this process allocates and registers, as an inference engine does)."
    )
    var memory: PoolMemory = .ucx

    @Option(help: "Seed for the scattered shuffle and the block content.")
    var seed: UInt64 = 1

    @Option(help: "Untimed warm-up transfers before each point's timed ones.")
    var warmup = 1

    @Option(help: "Timed iterations of each point; the median is reported.")
    var iterations = 5

    @Option(help: "Seconds one transfer may take before it fails.")
    var timeout: Double = 120

    @Flag(help: "Print JSON: one object for a single point, an array of points for a sweep.")
    var json = false

    @Flag(help: "Print CSV: a header and one row per point.")
    var csv = false

    func validate() throws {
        guard iterations > 0, warmup >= 0, (0.001...86_400).contains(timeout), (1...(1 << 24)).contains(totalMiB ?? 1)
        else {
            throw ValidationError(
                "--iterations must be positive, --warmup not negative, --timeout 0.001 to 86400 seconds, --total-mib 1 to 2^24"
            )
        }
        try WorkloadOptions.checkShape(
            layers: layers.values, blocks: blocks.values, blockKiB: blockKiB.values, tcpStreams: tcpStreams.values)
        guard window.values.allSatisfy({ $0 > 0 }) else { throw ValidationError("--window must be positive") }
        guard !(json && csv) else { throw ValidationError("give --json or --csv, not both") }
    }

    /// How results are printed.
    var format: BenchSweep.Format { json ? .json : csv ? .csv : .text }

    /// Every combination of the listed values, one benchmark each. Options a transport ignores are not swept for
    /// it: TCP streams only for tcp and auto, UCX transport sets only for ucx and auto.
    func points() throws -> [BenchInitiator] {
        var points: [BenchInitiator] = []
        for data in dataPlanes {
            for op in op.values.uniqued {
                for pattern in pattern.values.uniqued {
                    for window in window.values.uniqued {
                        for shape in shapes {
                            let arguments =
                                data + shape + [
                                    "--pattern", pattern.rawValue, "--memory", memory.rawValue, "--seed", "\(seed)",
                                ]
                            points.append(
                                BenchInitiator(
                                    options: try WorkloadOptions.parse(arguments), operation: op, warmup: warmup,
                                    iterations: iterations,
                                    transferOptions: TransferOptions(
                                        maxOutstandingOps: window, timeout: .milliseconds(Int64(timeout * 1000)))))
                        }
                    }
                }
            }
        }
        return points
    }

    /// The data planes to sweep, as workload arguments: each transport with each UCX transport set (ucx, auto)
    /// and each stream count (tcp, auto).
    private var dataPlanes: [[String]] {
        var planes: [[String]] = []
        for transport in transport.values.uniqued {
            let ucxSets: [String?] = transport == .tcp || ucxTransports.isEmpty ? [nil] : ucxTransports.uniqued
            let streamCounts = transport == .ucx ? [tcpStreams.values[0]] : tcpStreams.values.uniqued
            for ucxSet in ucxSets {
                for streams in streamCounts {
                    planes.append(
                        ["--transport", transport.rawValue, "--tcp-streams", "\(streams)"]
                            + (ucxSet.map { ["--ucx-transports", $0] } ?? [])
                            + (dataTLS.isEmpty ? [] : ["--data-tls"] + dataTLS))
                }
            }
        }
        return planes
    }

    /// The pool shapes to sweep, as workload arguments: in KV mode the model's, otherwise every layer count ×
    /// block size × block count (or the block count that moves `--total-mib`).
    private var shapes: [[String]] {
        guard kvMode.model == nil else { return [kvMode.arguments] }
        var shapes: [[String]] = []
        for layers in layers.values.uniqued {
            for blockKiB in blockKiB.values.uniqued {
                let blockCounts =
                    totalMiB.map { [max(1, ($0 << 20) / (layers * 2 * blockKiB * 1024))] } ?? blocks.values.uniqued
                for blocks in blockCounts {
                    shapes.append(["--layers", "\(layers)", "--block-kib", "\(blockKiB)", "--blocks", "\(blocks)"])
                }
            }
        }
        return shapes
    }
}
