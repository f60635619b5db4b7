import ArgumentParser
import Foundation
import HandoffTopology

/// `handoff topo`: what this node (or a recorded one) offers KV transfer, and what stands in its way.
struct TopoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topo",
        abstract: "Diagnose a node for KV transfer: NICs, RDMA ports, UCX, GPUs and their PCIe distance, memlock.",
        discussion: """
            Exits 1 when a finding is an error, so it can gate a deployment (an init container, a CI check). \
            --from reads a recorded hwloc XML (lstopo --of xml) or the JSON this command writes with --json.
            """)

    @Option(help: "Read a recorded topology instead of this machine: hwloc XML, or a 'handoff topo --json' export.")
    var from: String?

    @Flag(help: "Print one JSON object: interfaces, rdma_devices, ucx, gpus, affinity, memlock, findings.")
    var json = false

    @Option(help: "Bytes of KV pool a worker here registers (64GiB, 512MiB, …), checked against the memlock limit.")
    var kvPoolBytes: ByteSize?

    @Flag(help: "KV must move over RDMA here: no RDMA device is an error, not a warning.")
    var requireRDMA = false

    func run() async throws {
        let topology: NodeTopology
        if let from {
            do {
                topology = try TopologyDiscovery.recorded(path: from)
            } catch {
                throw ValidationError(error.description)
            }
        } else {
            topology = TopologyDiscovery.live()
        }
        let analysis = TopologyAnalysis(kvPoolBytes: kvPoolBytes?.bytes, requireRDMA: requireRDMA)
        let report = TopologyReport(topology: topology, findings: analysis.findings(for: topology))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            print(TopologyText(report: report, style: .forStandardOutput()).lines().joined(separator: "\n"))
        }
        if report.hasErrors { throw ExitCode(1) }
    }
}
