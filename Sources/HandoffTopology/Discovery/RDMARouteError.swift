import Glibc

/// Why librdmacm found no RDMA route to a peer. Encoded as `kind`, `errno` and `message`.
public enum RDMARouteError: Error, Sendable, Equatable, CustomStringConvertible, Codable {
    /// The text given is not an IPv4 address.
    case invalidAddress(String)
    /// librdmacm cannot start: no RDMA device, or no /dev/infiniband/rdma_cm (a container without it).
    case unavailable(errno: Int32)
    /// Resolving the address failed: with ENODEV or EADDRNOTAVAIL, the route to it leaves through no RDMA
    /// device; otherwise it did not resolve at all (timeout, unreachable).
    case noRoute(address: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidAddress(let text): "\(text) is not an IPv4 address"
        case .unavailable(let code): "librdmacm is unavailable here: \(String(cString: strerror(code)))"
        case .noRoute(let address, let code) where Self.offFabric(code): "no RDMA device here routes to \(address)"
        case .noRoute(let address, let code):
            "\(address) did not resolve to an RDMA address: \(String(cString: strerror(code)))"
        }
    }

    /// Whether the address is routed through a device that is not an RDMA device.
    public var isOffFabric: Bool {
        if case .noRoute(_, let code) = self { return Self.offFabric(code) }
        return false
    }

    private static func offFabric(_ code: Int32) -> Bool { code == ENODEV || code == EADDRNOTAVAIL }

    private enum CodingKeys: String, CodingKey {
        case kind, address, message
        case errorNumber = "errno"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .invalidAddress(let text):
            try container.encode("invalid-address", forKey: .kind)
            try container.encode(text, forKey: .address)
        case .unavailable(let code):
            try container.encode("unavailable", forKey: .kind)
            try container.encode(code, forKey: .errorNumber)
        case .noRoute(let address, let code):
            try container.encode("no-route", forKey: .kind)
            try container.encode(address, forKey: .address)
            try container.encode(code, forKey: .errorNumber)
        }
        try container.encode(description, forKey: .message)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "invalid-address": self = .invalidAddress(try container.decode(String.self, forKey: .address))
        case "unavailable": self = .unavailable(errno: try container.decode(Int32.self, forKey: .errorNumber))
        case "no-route":
            self = .noRoute(
                address: try container.decode(String.self, forKey: .address),
                errno: try container.decode(Int32.self, forKey: .errorNumber))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "unknown RDMA route error '\(kind)'")
        }
    }
}
