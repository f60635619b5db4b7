import Foundation

/// A pool's regions placed in memfd-backed spans: which span holds each region, and where in it.
struct SharedRegions: Sendable {
    let spans: [SharedSpan]
    /// Per region: the index of its span and its byte offset in that span.
    let placements: [Placement]

    struct Placement: Sendable, Hashable {
        var span: Int
        var offset: Int
    }

    /// One new span per region, of at least `regionBytes` each.
    static func allocate(regions: Int, regionBytes: Int, name: String) throws(SharedMemoryError) -> SharedRegions {
        var spans: [SharedSpan] = []
        for _ in 0..<regions { spans.append(try SharedSpan.allocate(length: regionBytes, name: name)) }
        return SharedRegions(spans: spans, placements: (0..<regions).map { Placement(span: $0, offset: 0) })
    }

    /// Remaps the pages under `regions` (an engine's memory) onto memfds in place. Regions that share a page
    /// share a span. Only private anonymous mappings are remapped (large allocations: NumPy arrays and torch
    /// tensors of a KV cache are mmap'd chunks of their own): the brk heap, a file mapping, shared memory or a
    /// device mapping (pinned host memory of a GPU driver) is refused before anything is changed. A remap failing
    /// midway (out of memory) leaves the spans done so far remapped, with their bytes.
    ///
    /// The engine must not write the regions while this runs (register the KV cache before using it).
    static func share(
        _ regions: [(address: UInt, length: Int)], name: String
    ) throws(SharedMemoryError) -> SharedRegions {
        let page = UInt(SharedSpan.pageSize)
        var ranges: [(start: UInt, end: UInt, members: [Int])] = []
        for (index, region) in regions.enumerated().sorted(by: { $0.element.address < $1.element.address }) {
            let start = region.address / page * page
            let (last, overflow) = region.address.addingReportingOverflow(UInt(region.length) + page - 1)
            guard !overflow, region.length > 0 else { throw .refused("region \(index) wraps the address space") }
            let end = last / page * page
            if let current = ranges.last, start < current.end {
                ranges[ranges.count - 1].end = max(current.end, end)
                ranges[ranges.count - 1].members.append(index)
            } else {
                ranges.append((start, end, [index]))
            }
        }
        let mappings = try PrivateAnonymousMappings.current()
        for range in ranges where !mappings.cover(range.start, range.end) {
            throw .refused(
                "0x\(String(range.start, radix: 16))-0x\(String(range.end, radix: 16)) is not private anonymous memory")
        }
        var spans: [SharedSpan] = []
        var placements = [Placement](repeating: Placement(span: 0, offset: 0), count: regions.count)
        for range in ranges {
            spans.append(try SharedSpan.remap(address: range.start, length: Int(range.end - range.start), name: name))
            for member in range.members {
                placements[member] = Placement(
                    span: spans.count - 1, offset: Int(regions[member].address - range.start))
            }
        }
        return SharedRegions(spans: spans, placements: placements)
    }
}
