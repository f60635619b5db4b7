// libFuzzer entry point for the pool descriptor decoder (Sources/HandoffDataPlane/PoolDescriptor.swift), the bytes a
// peer or a worker's registration hands over. Built and run by scripts/fuzz.sh pool-descriptor, which compiles it with the
// decoder and the model and coding types it uses into one module. Any bytes must decode to a descriptor whose layout
// sizes are in range and which encodes back to the same bytes, or give a DataPlaneError: never crash or trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPoolDescriptor(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let descriptor = try? PoolDescriptor(decoding: bytes) else { return 0 }
    let layout = descriptor.layout
    precondition(layout.totalBytes <= KVLayout.maxTotalBytes && layout.totalBytes > 0)
    precondition(descriptor.regions.count == layout.regionCount)
    precondition(descriptor.regions.allSatisfy { $0.length >= UInt64(layout.regionBytes) })
    precondition(descriptor.encoded() == bytes)
    return 0
}
