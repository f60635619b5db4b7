import CVerbs
import Glibc

/// Which local RDMA device and port reach an IPv4 address, as librdmacm resolves it from the routing table
/// (`rdma_resolve_addr`): the device RDMA-CM connections and RoCE addressing to that peer would use.
public enum RDMARouteResolver {
    /// Resolves `ipv4` synchronously (an rdma_cm_id without an event channel), waiting at most `timeout`.
    /// - Returns: the route, or why there is none (no RDMA device, no route through one, no answer).
    public static func resolve(ipv4: String, timeout: Duration = .seconds(2)) -> Result<RDMARoute, RDMARouteError> {
        var destination = sockaddr_in()
        destination.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, ipv4, &destination.sin_addr) == 1 else { return .failure(.invalidAddress(ipv4)) }
        var id: UnsafeMutablePointer<rdma_cm_id>?
        guard rdma_create_id(nil, &id, nil, RDMA_PS_TCP) == 0, let id else {
            return .failure(.unavailable(errno: errno))
        }
        defer { rdma_destroy_id(id) }
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let status = withUnsafeMutablePointer(to: &destination) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { rdma_resolve_addr(id, nil, $0, milliseconds) }
        }
        guard status == 0 else { return .failure(.noRoute(address: ipv4, errno: errno)) }
        guard let context = id.pointee.verbs, let device = context.pointee.device else {
            return .failure(.noRoute(address: ipv4, errno: ENODEV))
        }
        return .success(RDMARoute(device: String(cString: ibv_get_device_name(device)), port: Int(id.pointee.port_num)))
    }
}
