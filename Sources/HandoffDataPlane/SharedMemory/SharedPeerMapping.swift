import CLinuxMemory
import Foundation

/// A same-host peer's pool mapped into this process: its memfds duplicated with pidfd_getfd and mapped shared,
/// so that a transfer is a memcpy. Unmapped when the last user lets go.
final class SharedPeerMapping: Sendable {
    /// Start address of each of the peer's regions in this process.
    let regionAddresses: [UInt]
    private let spans: [(address: UInt, length: Int)]

    private init(regionAddresses: [UInt], spans: [(address: UInt, length: Int)]) {
        self.regionAddresses = regionAddresses
        self.spans = spans
    }

    deinit {
        for span in spans { munmap(UnsafeMutableRawPointer(bitPattern: span.address), span.length) }
    }

    /// Maps the spans `offer` names from process `offer.pid`, populated so that the first transfer does not fault.
    ///
    /// - Throws: `SharedMemoryError` when the process is gone or is another one now (pid reused), the ptrace access
    ///   rules refuse (another user, a process that is not dumpable), or a descriptor is not the serving agent's
    ///   memfd of the advertised size.
    static func map(
        _ offer: SharedMemoryOffer, placements: [SharedRegions.Placement], agent: UInt64
    )
        throws(SharedMemoryError) -> SharedPeerMapping
    {
        let pidfd = handoff_pidfd_open(offer.pid)
        guard pidfd >= 0 else { throw .system("pidfd_open(\(offer.pid))", errno) }
        defer { close(pidfd) }
        guard SharedMemoryOffer.startTime(of: offer.pid) == offer.startTime else {
            throw .refused("process \(offer.pid) is not the one that registered the pool (it has exited)")
        }
        var mapped: [(address: UInt, length: Int)] = []
        do {
            for span in offer.spans {
                mapped.append(
                    try mapSpan(
                        span, from: pidfd, name: SharedMemoryTransport.memfdName(agent: agent, nonce: offer.nonce)))
            }
        } catch {
            for span in mapped { munmap(UnsafeMutableRawPointer(bitPattern: span.address), span.length) }
            throw error
        }
        let addresses = placements.map { mapped[$0.span].address + UInt($0.offset) }
        return SharedPeerMapping(regionAddresses: addresses, spans: mapped)
    }

    /// What kind of file a `/proc/PID/fd` link names, without naming it.
    static func kind(ofLink link: String) -> String {
        if link.hasPrefix("/memfd:") { return "another memfd" }
        if link.hasPrefix("socket:") { return "a socket" }
        if link.hasPrefix("pipe:") { return "a pipe" }
        if link.hasPrefix("anon_inode:") { return "an anonymous inode" }
        if link.hasPrefix("/dev/") { return "a device" }
        if link.hasPrefix("/") { return "a file" }
        return "no file it can show"
    }

    private static func mapSpan(
        _ span: SharedMemoryOffer.Span, from pidfd: Int32, name: String
    )
        throws(SharedMemoryError) -> (address: UInt, length: Int)
    {
        let descriptor = handoff_pidfd_getfd(pidfd, span.descriptor)
        guard descriptor >= 0 else { throw .system("pidfd_getfd", errno) }
        defer { close(descriptor) }
        // Only the described pool's own memfds are mapped: a descriptor naming some other file of that process, or a
        // later pool's memfd under a released pool's numbers, is refused, so that it cannot be written into.
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)")) ?? ""
        guard link == "/memfd:\(name) (deleted)" else {
            // The kind of file only: the peer's paths are none of a descriptor sender's business, nor of our logs'.
            throw .refused(
                "descriptor \(span.descriptor) of the peer is \(Self.kind(ofLink: link)), not its KV pool's memfd")
        }
        // A size seal means no process can shrink the file under this mapping (a read past its end is SIGBUS).
        var status = stat()
        guard handoff_memfd_size_is_sealed(descriptor) != 0, fstat(descriptor, &status) == 0,
            UInt64(status.st_size) >= span.length
        else {
            throw .refused("the peer's memfd is not size-sealed, or smaller than its descriptor says")
        }
        let length = Int(span.length)
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, descriptor, 0)
        guard let address, address != MAP_FAILED else { throw .system("mmap", errno) }
        return (UInt(bitPattern: address), length)
    }
}
