/// The PCIe relation of one GPU to one NIC, with both NUMA nodes: one cell of `nvidia-smi topo -m`.
public struct AffinityEntry: Codable, Sendable, Equatable {
    /// The GPU's name (`GPU0`).
    public var gpu: String
    /// The NIC's name: its RDMA device (`mlx5_0`) when it has one, else its network interface (`eth0`).
    public var nic: String
    /// Whether the NIC is an RDMA device.
    public var rdma: Bool
    public var relation: PCIRelation
    public var gpuNUMANode: Int?
    public var nicNUMANode: Int?

    public init(gpu: String, nic: String, rdma: Bool, relation: PCIRelation, gpuNUMANode: Int?, nicNUMANode: Int?) {
        self.gpu = gpu
        self.nic = nic
        self.rdma = rdma
        self.relation = relation
        self.gpuNUMANode = gpuNUMANode
        self.nicNUMANode = nicNUMANode
    }

    enum CodingKeys: String, CodingKey {
        case gpu, nic, rdma, relation
        case gpuNUMANode = "gpu_numa_node"
        case nicNUMANode = "nic_numa_node"
    }
}
