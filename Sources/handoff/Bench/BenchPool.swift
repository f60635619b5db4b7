import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// Who allocates a benchmark pool's memory.
enum PoolMemory: String, CaseIterable {
    /// UCX allocates it (`UCP_MEM_MAP_ALLOCATE`), so a same-host peer can map it directly.
    case ucx
    /// This process allocates it and registers it, as an engine registers its own KV tensors.
    case engine
}

/// A benchmark's pool and, for engine memory, the buffers it owns.
struct BenchPool {
    let pool: LocalPool
    private let ownedRegions: [UnsafeMutableRawBufferPointer]

    static func make(_ memory: PoolMemory, layout: KVLayout, transport: any Transport) async throws -> BenchPool {
        switch memory {
        case .ucx:
            return BenchPool(pool: try await transport.allocatePool(layout, memoryType: .host), ownedRegions: [])
        case .engine:
            let regions = (0..<layout.regionCount).map { _ in
                let region = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.regionBytes, alignment: 4096)
                region.initializeMemory(as: UInt8.self, repeating: 0)
                return region
            }
            do {
                return BenchPool(
                    pool: try await transport.registerPool(layout, regions: regions, memoryType: .host),
                    ownedRegions: regions)
            } catch {
                for region in regions { region.deallocate() }
                throw error
            }
        }
    }

    /// `make`, shutting `transport` down when the pool cannot be made: the caller has nothing left to clean up.
    static func makeOrShutDown(
        _ memory: PoolMemory, layout: KVLayout, transport: any Transport
    ) async throws -> BenchPool {
        do {
            return try await make(memory, layout: layout, transport: transport)
        } catch {
            await transport.shutdown()
            throw error
        }
    }

    /// Deregisters the pool and frees what this process allocated.
    func release(from transport: any Transport) async {
        await transport.release(pool)
        for region in ownedRegions { region.deallocate() }
    }
}
