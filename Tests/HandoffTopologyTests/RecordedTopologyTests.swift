import Foundation
import Testing

@testable import HandoffTopology

/// Recorded hwloc topologies read into GPUs, NICs, RDMA devices and PCIe relations.
@Suite struct RecordedTopologyTests {
    @Test func gpuServerWithConnectXHasTheGPUTheNICAndTheirRelation() throws {
        let topology = try TopologyDiscovery.recorded(path: Fixture.wholeIO)
        #expect(topology.source == .hwlocXML)
        #expect(topology.gpus.map(\.pciAddress) == ["0000:03:00.0", "0000:83:00.0", "0000:84:00.0"])
        let cuda = try #require(topology.gpus.first { $0.osDevices.contains("cuda0") })
        #expect(cuda.name == "GPU2")
        #expect(cuda.vendor == .nvidia)
        #expect(cuda.model == "Tesla K40m")
        #expect(cuda.numaNode == 1)
        let mlx5 = try #require(topology.rdmaDevices.first)
        #expect(topology.rdmaDevices.count == 1)
        #expect(mlx5.name == "mlx5_0")
        #expect(mlx5.pciAddress == "0000:04:00.0")
        #expect(mlx5.numaNode == 1)
        #expect(
            mlx5.ports == [
                RDMAPort(
                    number: 1, state: .active, linkLayer: .infiniband, netdev: "ib0",
                    gids: [GIDEntry(index: 0, gid: "fe80:0000:0000:0000:248a:0703:001e:39fe", kind: .infiniband)])
            ])
        func relation(_ gpu: String, _ nic: String) -> PCIRelation? {
            topology.affinity.first { $0.gpu == gpu && $0.nic == nic }?.relation
        }
        #expect(relation("GPU2", "mlx5_0") == .pix)
        #expect(relation("GPU1", "mlx5_0") == .phb)
        #expect(relation("GPU0", "mlx5_0") == .sys)
        #expect(relation("GPU2", "eth0") == .phb)
        #expect(topology.affinity.count == 9)  // 3 GPUs × (mlx5_0, eth0, eth1)
        let entry = try #require(topology.affinity.first { $0.gpu == "GPU2" && $0.nic == "mlx5_0" })
        #expect(entry.rdma && entry.gpuNUMANode == 1 && entry.nicNUMANode == 1)
        #expect(topology.ucx == nil && topology.memlock == nil)
        #expect(topology.interfaces.map(\.name) == ["ib0", "eth0", "eth1"])
        #expect(topology.interfaces[0].kind == .infiniband && topology.interfaces[0].rdmaDevice == "mlx5_0")
    }

    @Test func onboardAMDGraphicsIsNotAComputeGPU() throws {
        // 01:03.0 / 01:00.0 are AMD ES1000 VGA controllers: server graphics, no ROCm device.
        #expect(try TopologyDiscovery.recorded(path: Fixture.fourNodesEthernet).gpus.isEmpty)
        #expect(
            try TopologyDiscovery.recorded(path: Fixture.infiniBandTwoNodes).gpus.map(\.vendor) == [
                .nvidia, .nvidia, .nvidia,
            ])
    }

    @Test func nestedSwitchesGiveEveryRelation() throws {
        var text = try String(contentsOfFile: Fixture.dgx2, encoding: .utf8)
        text = text.replacingOccurrences(of: #"<topology version="3.0">"#, with: #"<topology version="2.0">"#)
        let inventory = try HwlocTopology.xml(text).pciInventory()
        let gpus = inventory.gpus()
        #expect(gpus.count == 16)
        func relation(_ a: Int, _ b: Int) throws -> PCIRelation {
            inventory.relation(
                try #require(inventory.device(at: gpus[a].pciAddress)),
                try #require(inventory.device(at: gpus[b].pciAddress)))
        }
        #expect(try relation(0, 1) == .pix)  // one switch: its upstream port above both downstream ports
        #expect(try relation(0, 2) == .pxb)  // two levels of switches
        #expect(try relation(0, 4) == .node)  // another host bridge of NUMA node 0
        #expect(try relation(0, 8) == .sys)  // the other socket
        #expect(try relation(9, 8) == relation(8, 9))
    }

    @Test func anHwloc3FileIsReadAsVersion2AndSaysSo() throws {
        let topology = try TopologyDiscovery.recorded(path: Fixture.dgx2)
        #expect(topology.gpus.count == 16)
        #expect(topology.discoveryErrors == [#"read as hwloc 2 XML: version="3.0""#])
    }

    @Test func exportReadsBackAsTheSameTopology() throws {
        let topology = try TopologyDiscovery.recorded(path: Fixture.wholeIO)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-topo-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONEncoder().encode(TopologyReport(topology: topology, findings: [])).write(to: file)
        var readBack = try TopologyDiscovery.recorded(path: file.path)
        #expect(readBack.source == .export)
        readBack.source = topology.source
        #expect(readBack == topology)
    }

    @Test func unreadableAndMalformedFilesAreRefusedWithTheReason() throws {
        let directory = FileManager.default.temporaryDirectory
        func write(_ text: String) throws -> String {
            let file = directory.appendingPathComponent("handoff-topo-bad-\(UUID())").path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        #expect(
            throws: TopologyError.unreadableFile(path: "/nonexistent/node.xml", reason: "No such file or directory")
        ) {
            try TopologyDiscovery.recorded(path: "/nonexistent/node.xml")
        }
        for text in [
            "hello", #"<?xml version="1.0"?><topology version="2.0"><object type="Machine""#, #"{"host": "x"}"#, "{",
        ] {
            let file = try write(text)
            defer { try? FileManager.default.removeItem(atPath: file) }
            do {
                _ = try TopologyDiscovery.recorded(path: file)
                Issue.record("\(text) was accepted")
            } catch {
                guard case .unsupportedFile(let path, let reason) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(path == file)
                #expect(!reason.isEmpty)
            }
        }
    }
}
