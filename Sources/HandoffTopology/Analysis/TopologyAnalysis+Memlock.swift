/// The memlock limit against the KV pool that RDMA registration pins.
extension TopologyAnalysis {
    func memlockFindings(_ topology: NodeTopology) -> [Finding] {
        guard let memlock = topology.memlock, let limit = memlock.currentBytes else { return [] }
        let rdma = !usableRDMADevices(topology).isEmpty
        let advice =
            "Raise it: 'ulimit -l unlimited' (the hard limit is "
            + (memlock.maximumBytes.map(ByteCountText.text) ?? "unlimited")
            + "), LimitMEMLOCK=infinity for systemd, --ulimit memlock=-1 for Docker, or the container runtime's "
            + "default ulimits in Kubernetes."
        guard let pool = kvPoolBytes else {
            guard rdma else { return [] }
            return [
                Finding(
                    .info, .memlockLow,
                    message:
                        "The memlock limit is \(ByteCountText.text(limit)): a KV pool registered for RDMA cannot be larger.",
                    advice: "Pass --kv-pool-bytes to check a pool size. " + advice)
            ]
        }
        guard limit < pool else { return [] }
        return [
            Finding(
                rdma ? .error : .warning, .memlockLow,
                message: "The memlock limit (\(ByteCountText.text(limit))) is below the KV pool "
                    + "(\(ByteCountText.text(pool))): "
                    + (rdma
                        ? "registering it for RDMA pins it and will fail."
                        : "TCP and shared memory do not pin it, but an RDMA transport would fail to register it."),
                advice: advice)
        ]
    }
}
