/// One way a registered pool can be reached, as its descriptor offers it: for diagnostics (which transports a
/// worker serves on, at which TCP endpoints) without connecting.
public struct DataPlaneOffer: Sendable, Hashable {
    /// `ucx`, `tcp` or `shm` (same-host shared memory).
    public var transport: String
    /// The `host:port` endpoints of a TCP offer, in the order peers try them; empty for UCX, whose address is
    /// an opaque packed worker address.
    public var endpoints: [String]

    /// An offer of `transport` (`ucx`, `tcp`) at `endpoints` (TCP only).
    public init(transport: String, endpoints: [String]) {
        self.transport = transport
        self.endpoints = endpoints
    }
}

extension PoolDescriptor {
    /// The transports and endpoints this descriptor offers: one offer for a `ucx` or `tcp` descriptor, each
    /// offer of an `auto` one.
    ///
    /// - Throws: `DataPlaneError.invalidDescriptor` for malformed `auto` offers, `.incompatibleDescriptor` for
    ///   TCP endpoints that are not `host:port` or a transport this build does not know.
    public func offers() throws(DataPlaneError) -> [DataPlaneOffer] {
        switch transport {
        case "ucx", "shm":
            return [DataPlaneOffer(transport: transport, endpoints: [])]
        case "tcp":
            guard let endpoints = TCPEndpoints.decode(transportAddress) else {
                throw .incompatibleDescriptor("the TCP offer's endpoints are not a list of host:port")
            }
            return [DataPlaneOffer(transport: "tcp", endpoints: endpoints.map { "\($0.host):\($0.port)" })]
        case "auto":
            var offers: [DataPlaneOffer] = []
            for offer in try AutoOffers.decode(transportAddress) where offer.transport != "auto" {
                offers += try offer.offers()
            }
            return offers
        default:
            throw .incompatibleDescriptor("the pool is served by '\(transport)', which this build does not know")
        }
    }
}
