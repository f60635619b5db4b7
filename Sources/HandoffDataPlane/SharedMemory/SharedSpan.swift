import CLinuxMemory
import Foundation

/// Page-aligned memory backed by a memfd, so that a peer on the same host can map the very same pages: either
/// allocated so, or an engine's memory remapped in place (same addresses, same contents, now shareable).
final class SharedSpan: Sendable {
    /// Page-aligned start and length in this process.
    let address: UInt
    let length: Int
    /// The memfd; a peer duplicates it with pidfd_getfd.
    let descriptor: Int32
    /// Whether this span allocated its mapping (and unmaps it), or remapped an engine's memory (which stays the
    /// engine's to unmap).
    let allocated: Bool

    private init(address: UInt, length: Int, descriptor: Int32, allocated: Bool) {
        self.address = address
        self.length = length
        self.descriptor = descriptor
        self.allocated = allocated
    }

    /// Closes the memfd, and unmaps an allocated span; the pages go when every mapping of them has.
    deinit {
        if allocated { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
        close(descriptor)
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// A new zero-filled span of at least `length` bytes, its pages populated.
    static func allocate(length: Int, name: String) throws(SharedMemoryError) -> SharedSpan {
        let length = roundUp(length)
        let descriptor = try memfd(name: name, length: length)
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            close(descriptor)
            throw .system("mmap", errno)
        }
        return SharedSpan(address: UInt(bitPattern: address), length: length, descriptor: descriptor, allocated: true)
    }

    /// Remaps the page-aligned range `address ..< address + length` of this process onto a new memfd holding the
    /// same bytes. The caller has checked that the range is private anonymous memory that the engine does not
    /// write meanwhile. It moves `chunkBytes` at a time, so that the old pages are freed as the new ones fill
    /// (registration never holds the pool twice). The first and last page may hold a neighbour's bytes: they are
    /// copied and remapped last, one page each, so that a write to a neighbour could be lost only within
    /// microseconds.
    static func remap(address: UInt, length: Int, name: String) throws(SharedMemoryError) -> SharedSpan {
        precondition(address % UInt(pageSize) == 0 && length % pageSize == 0 && length > 0)
        let descriptor = try memfd(name: name, length: length)
        let edges = length > pageSize ? [0, length - pageSize] : [0]
        let interior = pageSize..<max(pageSize, length - pageSize)
        do {
            for chunk in stride(from: interior.lowerBound, to: interior.upperBound, by: chunkBytes) {
                try move(chunk..<min(chunk + chunkBytes, interior.upperBound), of: address, descriptor)
            }
            for edge in edges { try move(edge..<edge + pageSize, of: address, descriptor) }
        } catch {
            close(descriptor)
            throw error
        }
        return SharedSpan(address: address, length: length, descriptor: descriptor, allocated: false)
    }

    /// Bytes remapped at a time.
    static let chunkBytes = 64 << 20

    /// Copies `range` of the span at `address` into the memfd (through a staging mapping of that range) and maps
    /// the memfd's pages there in place of the old ones, populated: the first transfer into a block then takes no
    /// page faults (vLLM allocates its KV cache untouched, so without it every block's first load faulted).
    private static func move(_ range: Range<Int>, of address: UInt, _ descriptor: Int32) throws(SharedMemoryError) {
        let offset = off_t(range.lowerBound)
        guard let staging = mmap(nil, range.count, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, offset),
            staging != MAP_FAILED
        else { throw .system("mmap", errno) }
        defer { munmap(staging, range.count) }
        let target = UnsafeMutableRawPointer(bitPattern: address + UInt(range.lowerBound))!
        memcpy(staging, target, range.count)
        guard
            mmap(target, range.count, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, descriptor, offset)
                == target
        else {
            throw .system("mmap MAP_FIXED", errno)
        }
    }

    static func roundUp(_ length: Int) -> Int { (length + pageSize - 1) / pageSize * pageSize }

    private static func memfd(name: String, length: Int) throws(SharedMemoryError) -> Int32 {
        let descriptor = handoff_memfd_create(name)
        guard descriptor >= 0 else { throw .system("memfd_create", errno) }
        guard ftruncate(descriptor, off_t(length)) == 0, handoff_memfd_seal_size(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            throw .system("ftruncate and seal", code)
        }
        return descriptor
    }
}
