import Testing

@testable import HandoffTopology

/// Each finding, produced by the recorded topology that shows it, and none on a healthy node.
@Suite struct TopologyAnalysisTests {
    private func findings(_ path: String, _ analysis: TopologyAnalysis = TopologyAnalysis()) throws -> [Finding] {
        analysis.findings(for: try TopologyDiscovery.recorded(path: path))
    }

    @Test func gpuWhoseNearestRDMANICIsAcrossSocketsIsAWarning() throws {
        let found = try findings(Fixture.wholeIO)
        let distant = found.filter { $0.code == .gpuNICDistant }
        #expect(distant.map(\.subject) == ["GPU0", "GPU1"])
        #expect(distant.map(\.severity) == [.warning, .info])  // SYS, then PHB
        #expect(distant[0].message.contains("mlx5_0") && distant[0].message.contains("SYS"))
        #expect(!found.contains { $0.severity == .error })
        #expect(!found.contains { $0.code == .noRDMA || $0.code == .nicNUMARemote })
    }

    @Test func nicServingOnlyGPUsOnAnotherNodeIsAWarning() throws {
        let remote = try findings(Fixture.nicWithoutLocalGPU).filter { $0.code == .nicNUMARemote }
        #expect(remote.count == 1)
        #expect(remote.first?.subject == "mlx4_0")
        #expect(remote.first?.severity == .warning)
        // The original machine has a GPU beside mlx4_0 on node 0: no such finding there.
        #expect(!(try findings(Fixture.infiniBandTwoNodes)).contains { $0.code == .nicNUMARemote })
        #expect(
            try findings(Fixture.infiniBandTwoNodes).filter { $0.code == .gpuNICDistant && $0.severity == .warning }
                .map(\.subject) == ["GPU1", "GPU2"])
    }

    @Test func noRDMADeviceSaysTransfersUseTCPAndIsAnErrorOnlyWhenRequired() throws {
        let warning = try #require(try findings(Fixture.fourNodesEthernet).first { $0.code == .noRDMA })
        #expect(warning.severity == .warning)
        #expect(warning.message.contains("KV transfers will use TCP"))
        let required = try findings(Fixture.fourNodesEthernet, TopologyAnalysis(requireRDMA: true))
        #expect(required.first?.code == .noRDMA)
        #expect(required.first?.severity == .error)
    }

    @Test func gpusWithoutANICAreAWarning() throws {
        let found = try findings(Fixture.dgx2)
        #expect(found.contains { $0.code == .noNIC && $0.severity == .warning && $0.message.hasPrefix("16 GPU(s)") })
        #expect(found.contains { $0.code == .notRecorded && $0.message.contains(#"version="3.0""#) })
    }

    @Test func misconfiguredRoCENodeShowsEachProblem() throws {
        let found = try findings(Fixture.roceMisconfigured, TopologyAnalysis(kvPoolBytes: 64 << 30))
        func only(_ code: FindingCode) -> [Finding] { found.filter { $0.code == code } }
        // Verbs on each active device, then CUDA.
        #expect(only(.ucxMissingTransport).map(\.subject) == ["mlx5_0", "mlx5_2", nil])
        #expect(only(.ucxMissingTransport).map(\.severity) == [.error, .error, .warning])
        #expect(only(.ucxRestricted).count == 1 && only(.ucxRestricted)[0].message.hasPrefix("UCX_TLS=tcp,sm,self"))
        #expect(only(.memlockLow).map(\.severity) == [.error])
        #expect(only(.memlockLow)[0].message.contains("64 KiB") && only(.memlockLow)[0].message.contains("64 GiB"))
        #expect(only(.roceWithoutV2GID).map(\.subject) == ["mlx5_0 port 1"])  // mlx5_2 has v2 GIDs
        #expect(only(.rdmaPortDown).map(\.subject) == ["mlx5_1 port 1"])
        #expect(only(.lowMTU).map(\.subject) == ["mlx5_0 port 1"])
        #expect(only(.lowMTU)[0].message.contains("eth2's MTU of 1500"))
        #expect(only(.mtuMismatch).count == 1 && only(.mtuMismatch)[0].message.contains("eth2 1500, eth4 9000"))
        // mlx5_1 is nearer (PIX) but down: GPU0's KV goes to mlx5_2, NODE away.
        #expect(only(.gpuNICDistant).count == 1)
        #expect(only(.gpuNICDistant)[0].message.contains("(mlx5_2) is NODE away"))
        #expect(only(.gpuNICDistant)[0].message.contains("mlx5_1, nearer at PIX, has no active port"))
        #expect(found.first?.severity == .error)  // errors first
        #expect(found.map(\.severity) == found.map(\.severity).sorted(by: >))
    }

    @Test func memlockWithoutAPoolSizeIsInformationOnly() throws {
        let found = try findings(Fixture.roceMisconfigured)
        #expect(found.filter { $0.code == .memlockLow }.map(\.severity) == [.info])
        let small = try findings(Fixture.roceMisconfigured, TopologyAnalysis(kvPoolBytes: 65536))
        #expect(!small.contains { $0.code == .memlockLow })
    }

    @Test func healthyInfiniBandNodeHasNoFinding() throws {
        #expect(
            try findings(Fixture.infiniBandHealthy, TopologyAnalysis(kvPoolBytes: 1 << 40, requireRDMA: true)) == [])
    }

    @Test func allRDMAPortsDownIsAnError() throws {
        var topology = try TopologyDiscovery.recorded(path: Fixture.infiniBandHealthy)
        for device in topology.rdmaDevices.indices {
            topology.rdmaDevices[device].ports[0].state = .initializing
        }
        let found = TopologyAnalysis().findings(for: topology)
        #expect(found.first?.severity == .error && found.first?.code == .rdmaPortDown)
        #expect(found.first?.message.contains("KV transfers will use TCP") == true)
        #expect(found.filter { $0.code == .rdmaPortDown && $0.severity == .warning }.count == 2)
        #expect(found.contains { $0.message.contains("no subnet manager") })
    }

    @Test(arguments: [
        ("tcp", false), ("tcp,sm,self", false), ("rc,ud,sm,self", true), ("all", true), ("rc_x", true),
        ("^tcp", true), ("^rc,ud,dc", false), ("^ib", false), ("dc_mlx5,self", true), ("ib", true),
    ])
    func ucxTLSValues(tls: String, allowsRDMA: Bool) {
        #expect(TopologyAnalysis.allowsRDMA(tls) == allowsRDMA)
    }
}
