import Foundation
import HandoffCore
import Testing

@testable import HandoffDataPlane

@Suite("Same-host shared memory", .serialized)
struct SharedMemoryTransportTests {
    static let layout = try! KVLayout(
        geometry: KVGeometry(layers: 3, kindsPerBlock: 2, pieceBytes: 6000), numBlocks: 10)

    /// An engine's KV as large allocations are: private anonymous mappings (one per layer, or one for all layers at
    /// unaligned offsets so that regions share pages), filled with `seed`'s bytes before registration.
    final class EngineBuffers: @unchecked Sendable {
        // @unchecked: written before registration and read after transfers, by one test at a time.
        let buffers: [UnsafeMutableRawBufferPointer]

        init(layout: KVLayout, seed: UInt8, sharedPage: Bool = false) {
            func anonymous(_ bytes: Int) -> UnsafeMutableRawPointer {
                mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            }
            if sharedPage {
                let whole = anonymous(layout.regionBytes * layout.regionCount + 100)
                buffers = (0..<layout.regionCount).map {
                    UnsafeMutableRawBufferPointer(
                        start: whole + 13 + $0 * layout.regionBytes, count: layout.regionBytes)
                }
            } else {
                buffers = (0..<layout.regionCount).map { _ in
                    UnsafeMutableRawBufferPointer(start: anonymous(layout.regionBytes) + 16, count: layout.regionBytes)
                }
            }
            for (layer, buffer) in buffers.enumerated() {
                for index in 0..<buffer.count {
                    buffer[index] = UInt8(truncatingIfNeeded: index &* 7 &+ layer &* 31) &+ seed
                }
            }
        }

        func holds(seed: UInt8, layer: Int, range: Range<Int>) -> Bool {
            range.allSatisfy { buffers[layer][$0] == UInt8(truncatingIfNeeded: $0 &* 7 &+ layer &* 31) &+ seed }
        }
    }

    @Test(
        "registration keeps an engine's bytes, and a peer reads and writes them byte-exactly", arguments: [false, true])
    func engineMemoryMovesByteExactly(sharedPage: Bool) async throws {
        let server = try SharedMemoryTransport()
        let client = try SharedMemoryTransport()
        let served = EngineBuffers(layout: Self.layout, seed: 1, sharedPage: sharedPage)
        let local = EngineBuffers(layout: Self.layout, seed: 9)
        let servedPool = try await server.registerPool(Self.layout, regions: served.buffers)
        let localPool = try await client.registerPool(Self.layout, regions: local.buffers)
        for layer in 0..<3 { #expect(served.holds(seed: 1, layer: layer, range: 0..<Self.layout.regionBytes)) }

        let peer = try await client.connect(to: try server.descriptor(of: servedPool))
        #expect(peer.lowerTransports == ["memfd"])
        let plan = try TransferPlan(
            sourceBlocks: [2, 3, 7], destinationBlocks: [0, 1, 9], source: Self.layout, destination: Self.layout)
        let report = try await client.execute(plan, .read, local: localPool, remote: peer, options: .init())
        #expect(report.bytes == 3 * Self.layout.geometry.blockBytes && report.transport == "shm")
        for (from, to) in [(2, 0), (3, 1), (7, 9)] {
            for kind in 0..<2 {
                for layer in 0..<3 {
                    let source = Self.layout.offset(kind: kind, block: from)
                    let destination = Self.layout.offset(kind: kind, block: to)
                    #expect(
                        memcmp(
                            local.buffers[layer].baseAddress! + destination,
                            served.buffers[layer].baseAddress! + source,
                            Self.layout.geometry.pieceBytes) == 0)
                }
            }
        }
        // A block the plan did not name keeps its bytes.
        #expect(
            local.holds(
                seed: 9, layer: 0, range: Self.layout.offset(kind: 0, block: 5)..<Self.layout.offset(kind: 0, block: 6))
        )

        // WRITE goes into the serving process's memory as the engine sees it.
        let write = try TransferPlan(
            sourceBlocks: [4], destinationBlocks: [8], source: Self.layout, destination: Self.layout)
        _ = try await client.execute(write, .write, local: localPool, remote: peer, options: .init())
        let at = Self.layout.offset(kind: 1, block: 8)
        #expect(
            memcmp(
                served.buffers[2].baseAddress! + at,
                local.buffers[2].baseAddress! + Self.layout.offset(kind: 1, block: 4), 6000) == 0)
        await client.shutdown()
        await server.shutdown()
    }

    @Test("file mappings are refused and stay as they were")
    func fileMappingsAreRefused() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-shm-\(getpid())").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: Self.layout.regionBytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let descriptor = open(path, O_RDWR)
        defer { close(descriptor) }
        let mapped = mmap(nil, Self.layout.regionBytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)!
        defer { munmap(mapped, Self.layout.regionBytes) }
        let buffers = (0..<3).map { _ in UnsafeMutableRawBufferPointer(start: mapped, count: Self.layout.regionBytes) }
        let transport = try SharedMemoryTransport()
        await #expect(throws: DataPlaneError.self) {
            _ = try await transport.registerPool(Self.layout, regions: buffers)
        }
        mapped.storeBytes(of: 42, as: UInt8.self)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).first == 42)  // still the file's memory
    }

    @Test("descriptors naming another host, another process or a descriptor that is not the pool's memfd are refused")
    func craftedDescriptorsAreRefused() async throws {
        let server = try SharedMemoryTransport()
        let client = try SharedMemoryTransport()
        let pool = try await server.allocatePool(Self.layout)
        let genuine = try server.descriptor(of: pool)
        var offer = try SharedMemoryOffer(decoding: genuine.transportAddress)

        var elsewhere = genuine
        elsewhere.host = "another-host"
        await #expect(throws: DataPlaneError.incompatibleDescriptor("the pool is on another host")) {
            _ = try await client.connect(to: elsewhere)
        }

        var restarted = genuine
        offer.startTime += 1
        restarted.transportAddress = offer.encoded()
        await expectPeerFailed(client, restarted, containing: "not the one")
        offer.startTime -= 1

        // A descriptor of the serving process that is not its pool's memfd: standard error.
        var stolen = genuine
        offer.spans[0].descriptor = 2
        stolen.transportAddress = offer.encoded()
        await expectPeerFailed(client, stolen, containing: "not its KV pool's memfd")

        // One of its files: the refusal names the kind of file, never the serving process's path.
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-secret-\(getpid())")
        _ = FileManager.default.createFile(atPath: secret.path, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(at: secret) }
        let file = try FileHandle(forReadingFrom: secret)
        defer { try? file.close() }
        var named = genuine
        offer.spans[0].descriptor = file.fileDescriptor
        named.transportAddress = offer.encoded()
        await expectPeerFailed(client, named, containing: "is a file, not its KV pool's memfd")
        await expectPeerFailed(client, named, notContaining: "handoff-secret")

        var beyond = genuine
        beyond.regions[0].length = UInt64(offer.spans[0].length) + 1
        await #expect(throws: DataPlaneError.self) { _ = try await client.connect(to: beyond) }
        await client.shutdown()
        await server.shutdown()
    }

    @Test("a transfer past its deadline fails as timed out, and a cancelled one as cancelled")
    func deadlineAndCancellation() async throws {
        let layout = try KVLayout(
            geometry: KVGeometry(layers: 4, kindsPerBlock: 2, pieceBytes: 128 << 10), numBlocks: 16)
        let server = try SharedMemoryTransport()
        let client = try SharedMemoryTransport()
        let served = try await server.allocatePool(layout)
        let local = try await client.allocatePool(layout)
        let peer = try await client.connect(to: try server.descriptor(of: served))
        let plan = try TransferPlan(
            sourceBlocks: Array(0..<16), destinationBlocks: Array((0..<16).reversed()), source: layout,
            destination: layout)
        await #expect {
            _ = try await client.execute(
                plan, .read, local: local, remote: peer, options: .init(timeout: .nanoseconds(1)))
        } throws: { error in
            guard case .timedOut = error as? DataPlaneError else { return false }
            return true
        }
        let task = Task { try await client.execute(plan, .read, local: local, remote: peer, options: .init()) }
        task.cancel()
        let outcome = await task.result
        if case .failure(let error) = outcome {
            guard case .cancelled = error as? DataPlaneError else {
                Issue.record("unexpected \(error)")
                return
            }
        }  // a copy that finished before the cancellation landed is a success, and fine
        await client.shutdown()
        await server.shutdown()
    }

    @Test("a released pool's descriptor maps nothing, even when a later pool took its descriptor numbers")
    func staleDescriptorsMapNothing() async throws {
        let server = try SharedMemoryTransport()
        let client = try SharedMemoryTransport()
        let first = try await server.allocatePool(Self.layout)
        let released = try SharedMemoryOffer(decoding: server.descriptor(of: first).transportAddress)
        await server.release(first)
        let second = try await server.allocatePool(Self.layout)
        // The released pool's descriptor, with its numbers now naming the second pool's memfds.
        var stale = try server.descriptor(of: second)
        var offer = try SharedMemoryOffer(decoding: stale.transportAddress)
        offer.nonce = released.nonce
        stale.transportAddress = offer.encoded()
        await expectPeerFailed(client, stale, containing: "not its KV pool's memfd")
        _ = try await client.connect(to: try server.descriptor(of: second))
        await client.shutdown()
        await server.shutdown()
    }

    @Test("releasing a pool while a copy writes into it stops the copy before the memory goes")
    func releaseStopsRunningCopies() async throws {
        // 32 MiB a copy: long enough to be running when the release comes, small enough not to load the test run.
        let layout = try KVLayout(
            geometry: KVGeometry(layers: 4, kindsPerBlock: 2, pieceBytes: 256 << 10), numBlocks: 16)
        let server = try SharedMemoryTransport()
        let client = try SharedMemoryTransport()
        let served = try await server.allocatePool(layout)
        let peer = try await client.connect(to: try server.descriptor(of: served))
        let plan = try TransferPlan(
            sourceBlocks: Array(0..<16), destinationBlocks: Array(0..<16), source: layout, destination: layout)
        for _ in 0..<5 {
            let local = try await client.allocatePool(layout)
            let transfer = Task { try await client.execute(plan, .read, local: local, remote: peer, options: .init()) }
            try await Task.sleep(for: .milliseconds(1))
            await client.release(local)  // unmaps what the copy threads write: they must have stopped
            _ = await transfer.result
        }
        await client.shutdown()
        await server.shutdown()
    }

    @Test("copies split over threads by bytes, in order, long ops cut, every byte once")
    func partitionBalancesBytes() {
        let ops = (0..<10).map {
            CopyOp(
                sourceRegion: 0, sourceOffset: $0 * 100, destinationRegion: 0, destinationOffset: 0,
                length: $0 == 3 ? 9 << 20 : 1000)
        }
        let parts = SharedMemoryCopy.partition(ops, into: 2)
        #expect(parts.count == 2)
        let flat = parts.flatMap { $0 }
        #expect(flat.reduce(0) { $0 + $1.length } == ops.reduce(0) { $0 + $1.length })
        #expect(flat.allSatisfy { $0.length <= SharedMemoryCopy.pieceLimit })
        let sizes = parts.map { $0.reduce(0) { $0 + $1.length } }
        #expect(abs(sizes[0] - sizes[1]) <= SharedMemoryCopy.pieceLimit)
        #expect(SharedMemoryCopy.partition(ops, into: 1).count == 1)
        #expect(SharedMemoryCopy.partition([ops[0]], into: 4).count == 1)
    }

    private func expectPeerFailed(
        _ transport: SharedMemoryTransport, _ descriptor: PoolDescriptor, containing text: String = "",
        notContaining hidden: String? = nil
    ) async {
        do {
            _ = try await transport.connect(to: descriptor)
            Issue.record("a crafted descriptor connected")
        } catch {
            guard case .peerFailed(_, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            if !text.isEmpty { #expect(reason.contains(text), "\(reason)") }
            if let hidden { #expect(!reason.contains(hidden), "\(reason)") }
        }
    }
}
