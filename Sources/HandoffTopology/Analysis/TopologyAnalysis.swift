/// Draws findings from a `NodeTopology`: what stands between this node and fast KV transfer, and what to do.
/// Each rule reads only facts in the topology, so a recorded topology gets the same findings as the live one
/// (minus the rules whose facts were not recorded).
public struct TopologyAnalysis: Sendable {
    /// Bytes of KV pool a worker on this node registers; checked against the memlock limit.
    public var kvPoolBytes: UInt64?
    /// Whether KV must move over RDMA here: no RDMA device is then an error, not a warning.
    public var requireRDMA: Bool

    public init(kvPoolBytes: UInt64? = nil, requireRDMA: Bool = false) {
        self.kvPoolBytes = kvPoolBytes
        self.requireRDMA = requireRDMA
    }

    /// Every finding, errors first.
    public func findings(for topology: NodeTopology) -> [Finding] {
        let found =
            discoveryFindings(topology) + rdmaFindings(topology) + mtuFindings(topology) + affinityFindings(topology)
            + ucxFindings(topology) + memlockFindings(topology)
        return Finding.bySeverity(found)
    }

    /// RDMA devices with at least one active port: what UCX can put KV on.
    func usableRDMADevices(_ topology: NodeTopology) -> [RDMADevice] {
        topology.rdmaDevices.filter(\.hasActivePort)
    }

    private func discoveryFindings(_ topology: NodeTopology) -> [Finding] {
        switch topology.source {
        case .live:
            return topology.discoveryErrors.map { error in
                Finding(
                    .warning, .discoveryIncomplete, message: "Part of this node could not be read: \(error).",
                    advice: "Findings that need it are left out. hwloc needs /sys; in a container, mount it read-only.")
            }
        case .hwlocXML:
            let notes = topology.discoveryErrors.isEmpty ? "" : " (\(topology.discoveryErrors.joined(separator: "; ")))"
            return [
                Finding(
                    .info, .notRecorded,
                    message: "A recorded hwloc topology\(notes) holds the PCI tree, GPUs, NICs and RDMA port states, "
                        + "not UCX, link MTUs or the memlock limit: findings about those are left out.",
                    advice:
                        "For the whole picture, run 'handoff topo --json' on the node and read that export with --from."
                )
            ]
        case .export:
            return []
        }
    }
}
