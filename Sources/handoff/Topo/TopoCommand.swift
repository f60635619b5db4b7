import ArgumentParser
import Foundation
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffTopology

/// `handoff topo`: what this node (or a recorded one) offers KV transfer, and what stands in its way.
struct TopoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topo",
        abstract: "Diagnose a node for KV transfer: NICs, RDMA ports, UCX, GPUs and their PCIe distance, memlock.",
        discussion: """
            Exits 1 when a finding is an error, so it can gate a deployment (an init container, a CI check). \
            --from reads a recorded hwloc XML (lstopo --of xml) or the JSON this command writes with --json. \
            --coordinator lists the workers registered with a coordinator instead of this node (token from \
            --token-file or $HANDOFF_TOKEN); it exits 2 when it cannot list them.
            """)

    @Option(help: "Read a recorded topology instead of this machine: hwloc XML, or a 'handoff topo --json' export.")
    var from: String?

    @Flag(help: "Print one JSON object: interfaces, rdma_devices, ucx, gpus, affinity, memlock, findings.")
    var json = false

    @Option(help: "Bytes of KV pool a worker here registers (64GiB, 512MiB, …), checked against the memlock limit.")
    var kvPoolBytes: ByteSize?

    @Flag(help: "KV must move over RDMA here: no RDMA device is an error, not a warning.")
    var requireRDMA = false

    @Option(
        help:
            "Probe the path to a worker's native TCP data-plane port or a 'handoff bench serve' at IPv4:PORT: its topology, round trips, a short bandwidth probe, and which transport carries KV."
    )
    var peer: HostPort?

    @Option(
        name: .customLong("probe-mib"),
        help: "MiB moved by the --peer bandwidth probe, 0 to 1024 (0: no probe; default 64).")
    var probeMiB: Int?

    @Option(
        help:
            "UCX transports for the --peer probe (UCX_TLS), as the workers' --ucx-transports; default: UCX_TLS when set, otherwise all of UCX's but tcp."
    )
    var ucxTransports: String?

    @Option(
        help:
            "List the workers registered with the coordinator at HOST:PORT (a cluster: HOST:PORT,...), their labels, data planes and findings."
    )
    var coordinator: String?

    @Option(help: "File holding the coordinator's bearer token (default: $HANDOFF_TOKEN).")
    var tokenFile: String?

    @OptionGroup(title: "TLS to the coordinator") var tls: TLSOptions

    func validate() throws {
        guard (0...1024).contains(probeMiB ?? 0) else { throw ValidationError("--probe-mib must be 0 to 1024") }
        guard from == nil || peer == nil else {
            throw ValidationError("--peer probes from this machine: it cannot be combined with --from")
        }
        guard peer != nil || (probeMiB == nil && ucxTransports == nil) else {
            throw ValidationError("--probe-mib and --ucx-transports apply to --peer")
        }
        guard coordinator == nil || (from == nil && peer == nil && kvPoolBytes == nil && !requireRDMA) else {
            throw ValidationError(
                "--coordinator lists the cluster's workers: it takes no --from, --peer, --kv-pool-bytes or --require-rdma"
            )
        }
        guard coordinator != nil || tokenFile == nil else {
            throw ValidationError("--token-file applies to --coordinator")
        }
    }

    func run() async throws {
        if let coordinator {
            try await survey(coordinator)
            return
        }
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
        var report = TopologyReport(topology: topology, findings: analysis.findings(for: topology))
        if let peer {
            let peerReport = await PeerProbe(address: peer, probeMiB: probeMiB ?? 64, ucxTransports: ucxTransports).run(
                local: topology)
            report.peer = peerReport
            report.findings = Finding.bySeverity(
                PeerAnalysis().findings(local: topology, peer: peerReport) + report.findings)
        }
        if json {
            try printJSON(report)
        } else {
            print(TopologyText(report: report, style: .forStandardOutput()).lines().joined(separator: "\n"))
        }
        if report.hasErrors { throw ExitCode(1) }
    }

    /// `--coordinator`: the registered workers and the cluster's findings. Exits 2, with the reason on standard
    /// error, when there is no report to give (no token, the coordinator unreachable or refusing).
    private func survey(_ coordinator: String) async throws {
        let report: ClusterReport
        do {
            let address = try CoordinatorAddress(
                parsing: coordinator, token: try BearerToken.load(file: tokenFile), tls: try tls.files(forServer: false)
            )
            report = try await ClusterSurvey(address: address).run()
        } catch {
            let failure = TopoFailure.coordinatorUnreachable(address: coordinator, reason: "\(error)")
            FileHandle.standardError.write(Data("handoff topo: \(failure)\n".utf8))
            throw ExitCode(TopoFailure.exitCode)
        }
        if json {
            try printJSON(report)
        } else {
            print(ClusterText(report: report, style: .forStandardOutput()).lines().joined(separator: "\n"))
        }
        if report.hasErrors { throw ExitCode(1) }
    }

    private func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
    }
}
