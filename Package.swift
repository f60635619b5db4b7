// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Handoff",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handoff", targets: ["handoff"]),
        .library(name: "HandoffCore", targets: ["HandoffCore"]),
        .library(name: "HandoffDataPlane", targets: ["HandoffDataPlane"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // UCX's ucp API as a system library, plus a shim for its function-like macros.
        .systemLibrary(
            name: "CUCX",
            path: "CUCX",
            pkgConfig: "ucx",
            providers: [.apt(["libucx-dev"])]
        ),
        // The KV model: presets, layouts, transfer plans, wire coding. No I/O.
        .target(name: "HandoffCore"),
        // Moves block ranges between registered memory: the transport API and its UCX implementation.
        .target(
            name: "HandoffDataPlane",
            dependencies: [
                "HandoffCore",
                "CUCX",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The `handoff` command: bench (and later demo, coordinator, worker, topo).
        .executableTarget(
            name: "handoff",
            dependencies: [
                "HandoffCore",
                "HandoffDataPlane",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "HandoffCoreTests", dependencies: ["HandoffCore"]),
        .testTarget(
            name: "HandoffDataPlaneTests",
            dependencies: ["HandoffCore", "HandoffDataPlane", "CUCX"]
        ),
    ]
)
