import Glibc

/// Why librdmacm found no RDMA route to a peer.
public enum RDMARouteError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidAddress(String)
    /// librdmacm cannot start: no RDMA device, or no /dev/infiniband/rdma_cm.
    case unavailable(errno: Int32)
    /// No RDMA device routes to the address (it is reached through a plain Ethernet interface, or not at all).
    case noRoute(address: String, errno: Int32)

    public var description: String {
        switch self {
        case let .invalidAddress(text): "\(text) is not an IPv4 address"
        case let .unavailable(code): "librdmacm is unavailable here: \(String(cString: strerror(code)))"
        case let .noRoute(address, code): "no RDMA device here routes to \(address): \(String(cString: strerror(code)))"
        }
    }
}
