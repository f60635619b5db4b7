import Benchmark
import Foundation
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffRouter
import Metrics
import Prometheus

// Micro-benchmarks of the hot paths around a KV transfer: building its plan, coding a pool descriptor, and the
// coordinator's accounting of one finished request. Run with scripts/micro-benchmarks.sh.
//
// The workload is a Llama-3.1-70B prompt of 8,192 tokens in 16-token blocks: 512 blocks × 80 layers × K and V,
// 81,920 pieces (2.5 GiB), the size of one long prompt's hand-off.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], warmupIterations: 3, maxDuration: .seconds(2))

    let layout = try! KVLayout(geometry: ModelPreset.llama31_70B.geometry(blockTokens: 16), numBlocks: 512)
    let sources = Array(0..<512)
    var generator = SplitMix64(seed: 1)
    let scattered = sources.shuffled(using: &generator)

    Benchmark("plan: 70B 8k tokens, scattered (81,920 pieces)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try TransferPlan(
                    sourceBlocks: sources, destinationBlocks: scattered, source: layout, destination: layout))
        }
    }

    Benchmark("plan: 70B 8k tokens, contiguous (merges to 80 ops)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try TransferPlan(sourceBlocks: sources, destinationBlocks: sources, source: layout, destination: layout)
            )
        }
    }

    Benchmark("plan: 70B 8k tokens, one layer of a layerwise push") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try TransferPlan(
                    sourceBlocks: sources, destinationBlocks: scattered, source: layout, destination: layout,
                    layers: 40..<41))
        }
    }

    // A descriptor as a UCX pool of this layout publishes it: 80 regions, each with a packed rkey, and a
    // worker address of UCX's usual size.
    let descriptor = PoolDescriptor(
        transport: "ucx", agent: 0x1234_5678_9ABC_DEF0, host: "host-a",
        transportAddress: Array(repeating: 0xAB, count: 512),
        memoryType: .host, layout: layout,
        regions: (0..<80).map { region in
            PoolDescriptor.Region(
                address: 0x7F00_0000_0000 + UInt64(region) * UInt64(layout.regionBytes),
                length: UInt64(layout.regionBytes),
                remoteKey: Array(repeating: UInt8(region), count: 96))
        })
    let encoded = descriptor.encoded()

    Benchmark("descriptor: encode, 80 regions") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(descriptor.encoded()) }
    }

    Benchmark("descriptor: decode, 80 regions") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try PoolDescriptor(decoding: encoded)) }
    }

    // The coordinator's accounting of one finished request: its TTFT components from the timeline, the
    // Prometheus histograms and counters they feed, and the rolling percentiles of the aggregates.
    var timeline = TicketTimeline(admitted: 1_000)
    timeline.prefillStarted = 2_000_000
    timeline.prefillDone = 90_000_000
    timeline.pullSent = 90_400_000
    timeline.transferDone = 230_000_000
    timeline.kvTransferMeasured = 139_000_000
    timeline.firstToken = 260_000_000
    let stats = TransferStats(
        bytes: 2_684_354_560, ops: 81_920, descriptors: 81_920, transport: "ucx", lowerTransports: ["rc_mlx5"],
        postSeconds: 0.002, completionSeconds: 0.137)
    let metrics = CoordinatorMetrics(factory: PrometheusMetricsFactory())

    Benchmark("accounting: one finished request (components, metrics, percentiles)") { benchmark in
        var percentiles = RollingPercentiles(capacity: 10_000)
        for _ in benchmark.scaledIterations {
            let components = timeline.components()!
            metrics.completed(components)
            metrics.transferred(stats)
            percentiles.record(Double(components.kvTransfer) / 1e9)
            blackHole(components)
        }
    }

    Benchmark("accounting: aggregate percentiles over 10,000 requests") { benchmark in
        var percentiles = RollingPercentiles(capacity: 10_000)
        for value in 0..<10_000 { percentiles.record(Double(value % 977)) }
        for _ in benchmark.scaledIterations { blackHole(percentiles.summary()) }
    }

    routerBenchmarks()
}

/// The router reading a client's request and writing decode's body: in place (`JSONDocument`, issue 29) against
/// Foundation's object tree (the router before), on the longest prompt `handoff router` takes by default (131,072
/// token ids, 0.9 MB) and on about the most top-level keys a body under that cap holds (90,000).
func routerBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResidentDelta], warmupIterations: 2,
        maxDuration: .seconds(3))
    let ids = (0..<131_072).map { ($0 * 7919) % 128_000 }
    let tokens = Array(#"{"model": "m", "prompt": \#(ids), "max_tokens": 16}"#.utf8)
    var manyKeys = #"{"model": "m", "prompt": [1]"#
    for key in 0..<90_000 { manyKeys += #","k\#(key)":0"# }  // 1.0 MB: under the default 1.06 MiB cap
    let keys = Array((manyKeys + "}").utf8)
    for (name, body) in [("131,072 token ids", tokens), ("90,000 keys", keys)] {
        Benchmark("router: \(name), in place", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                let request = try CompletionRequest(api: .completions, json: body)
                blackHole(request.decodeBody(ticket: "t-1"))
            }
        }
        Benchmark("router: \(name), Foundation objects (before)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                var object = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
                blackHole((object["prompt"] as? [Any])?.compactMap { $0 as? Int })
                object["kv_transfer_params"] = ["handoff_ticket": "t-1", "do_remote_prefill": true]
                blackHole(try JSONSerialization.data(withJSONObject: object))
            }
        }
    }
}
