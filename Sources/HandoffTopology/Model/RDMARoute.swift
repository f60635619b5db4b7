/// The local RDMA device and port librdmacm binds to reach a peer.
public struct RDMARoute: Codable, Sendable, Equatable {
    /// The RDMA device's name (`mlx5_0`).
    public var device: String
    /// Its port number, from 1.
    public var port: Int

    public init(device: String, port: Int) {
        self.device = device
        self.port = port
    }
}
