/// The local RDMA device and port librdmacm binds to reach a peer.
public struct RDMARoute: Codable, Sendable, Equatable {
    public var device: String
    public var port: Int

    public init(device: String, port: Int) {
        self.device = device
        self.port = port
    }
}
