// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Handoff",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handoff", targets: ["handoff"]),
        .library(name: "HandoffCore", targets: ["HandoffCore"]),
        .library(name: "HandoffDataPlane", targets: ["HandoffDataPlane"]),
        .library(name: "HandoffControlPlane", targets: ["HandoffControlPlane"]),
        .library(name: "HandoffUCX", targets: ["HandoffUCX"]),
        .library(name: "HandoffControlProtocol", targets: ["HandoffControlProtocol"]),
        .library(name: "HandoffClient", targets: ["HandoffClient"]),
        .library(name: "HandoffConnector", targets: ["HandoffConnector"]),
        .library(name: "HandoffWorker", targets: ["HandoffWorker"]),
        .library(name: "HandoffRouter", targets: ["HandoffRouter"]),
        // The C API (Sources/CHandoff/include/handoff.h) as libHandoffC.so, for engines outside Swift.
        .library(name: "HandoffC", type: .dynamic, targets: ["HandoffC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.36.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.0.0"),
        // Micro-benchmarks only (Benchmarks/). The malloc interposer alone: the runtime interposer is not in every
        // package mirror.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // UCX's ucp API as a system library, plus a shim for its function-like macros.
        .systemLibrary(
            name: "CUCX",
            path: "CUCX",
            pkgConfig: "ucx",
            providers: [.apt(["libucx-dev"])]
        ),
        // OpenSSL's TLS API, for the native TCP data plane's mutual TLS.
        .systemLibrary(
            name: "COpenSSL",
            path: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // hwloc's topology API: the PCI tree of this machine or of a recorded XML.
        .systemLibrary(
            name: "CHwloc",
            path: "CHwloc",
            pkgConfig: "hwloc",
            providers: [.apt(["libhwloc-dev"])]
        ),
        // libibverbs and librdmacm: RDMA devices, ports and GID tables, and which device routes to an address.
        .systemLibrary(
            name: "CVerbs",
            path: "CVerbs",
            pkgConfig: "libibverbs",
            providers: [.apt(["libibverbs-dev", "librdmacm-dev"])]
        ),
        // memfd_create, pidfd_open and pidfd_getfd, which Swift's Glibc module does not import.
        .target(name: "CLinuxMemory"),
        // The KV model: presets, layouts, transfer plans, wire coding. No I/O.
        .target(name: "HandoffCore"),
        // Moves block ranges between registered memory: the transport API, descriptors and the native TCP
        // transport. No UCX: the coordinator links it to read descriptors.
        .target(
            name: "HandoffDataPlane",
            dependencies: [
                "HandoffCore",
                "CLinuxMemory",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The UCX transport and `auto` selection (UCX with native TCP fallback): what workers run.
        .target(
            name: "HandoffUCX",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "CUCX",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // What a node offers KV transfer: interfaces, RDMA devices, UCX, GPUs, GPU-NIC PCIe relations, memlock;
        // live or recorded; and the findings drawn from it (`handoff topo`).
        .target(name: "HandoffTopology", dependencies: ["CHwloc", "CVerbs", "CUCX"]),
        // The handoff.v1 API: messages and gRPC stubs generated from Protos/ by scripts/generate-proto.sh.
        .target(
            name: "HandoffProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ]
        ),
        // gRPC clients of etcd's KV, Lease and Election services, generated from Protos/etcd (etcd v3.4.23's API,
        // trimmed) by scripts/generate-etcd-proto.sh.
        .target(
            name: "EtcdProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ]
        ),
        // The etcd calls the coordinators make: leases, fenced writes, leader election. No consensus of its own.
        .target(
            name: "HandoffEtcd",
            dependencies: [
                "EtcdProto",
                "HandoffCore",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ]
        ),
        // The control plane's vocabulary, shared by the coordinator and its clients: workers, layouts, instructions,
        // reports, their protobuf forms, the bearer token.
        .target(
            name: "HandoffControlProtocol",
            dependencies: [
                "HandoffCore",
                "HandoffProto",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // A client of the coordinator: addresses, the authenticated gRPC client, a worker's session.
        .target(
            name: "HandoffClient",
            dependencies: [
                "HandoffCore",
                "HandoffControlProtocol",
                "HandoffProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The coordinator: registry, pairing, ticket state machines, leases, TTFT accounts, metrics, gRPC service.
        .target(
            name: "HandoffControlPlane",
            dependencies: [
                "HandoffCore",
                "HandoffEtcd",
                "HandoffDataPlane",
                "HandoffControlProtocol",
                "HandoffProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // What an inference engine embeds: the connector runtime (joins the coordinator, registers the engine's KV,
        // turns instructions into events and answers into reports, pulls KV through the data plane).
        .target(
            name: "HandoffConnector",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffUCX",
                "HandoffControlProtocol",
                "HandoffClient",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The C API's header and the checks that pin its struct layouts.
        .target(name: "CHandoff"),
        // The C API: the data plane and the connector runtime behind opaque handles (`@_cdecl` functions).
        .target(
            name: "HandoffC",
            dependencies: [
                "CHandoff",
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffUCX",
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffConnector",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `handoff router`: an OpenAI-compatible HTTP front that admits each request at the coordinator, sends the
        // prompt to the paired prefill engine, then streams the paired decode engine's answer back.
        .target(
            name: "HandoffRouter",
            dependencies: [
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffProto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The simulated engine behind `handoff worker`: a thin layer over the connector runtime.
        .target(
            name: "HandoffWorker",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffConnector",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The `handoff` command: bench, coordinator, worker, demo, topo.
        .executableTarget(
            name: "handoff",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffUCX",
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffConnector",
                "HandoffProto",
                "HandoffControlPlane",
                "HandoffEtcd",
                "HandoffWorker",
                "HandoffTopology",
                "HandoffRouter",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // Micro-benchmarks of the hot paths (plans, descriptors, accounting): scripts/micro-benchmarks.sh.
        .executableTarget(
            name: "HandoffBenchmarks",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffControlProtocol",
                "HandoffControlPlane",
                "HandoffRouter",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Benchmarks/HandoffBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Runs the built `handoff` executable as a child process in tests.
        .target(
            name: "HandoffTestSupport",
            dependencies: [
                "HandoffClient",
                "HandoffControlPlane",
                "HandoffControlProtocol",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/HandoffTestSupport"
        ),
        .testTarget(name: "HandoffCoreTests", dependencies: ["HandoffCore"]),
        .testTarget(
            name: "HandoffRouterTests",
            dependencies: [
                "HandoffRouter", "HandoffProto", "HandoffClient", "HandoffCore", "HandoffTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "HandoffDataPlaneTests",
            dependencies: ["HandoffCore", "HandoffDataPlane", "HandoffUCX", "CUCX", "HandoffTestSupport"]
        ),
        .testTarget(
            name: "HandoffTopologyTests",
            dependencies: ["HandoffTopology", "HandoffDataPlane", "HandoffUCX", "HandoffTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "HandoffConnectorTests",
            dependencies: [
                // The C API's tests link libHandoffC.so from a C program; the dependency makes `swift build` build it.
                "HandoffC",
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffUCX",
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffConnector",
                "HandoffControlPlane",
                "HandoffProto",
                "HandoffTestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["CProgram"]
        ),
        .testTarget(
            name: "HandoffControlPlaneTests",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                "HandoffUCX",
                "HandoffControlProtocol",
                "HandoffClient",
                "HandoffConnector",
                "HandoffProto",
                "HandoffControlPlane",
                "HandoffEtcd",
                "HandoffWorker",
                "HandoffTestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)
