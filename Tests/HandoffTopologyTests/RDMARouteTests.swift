import HandoffTopology
import Testing

/// Which local RDMA device routes to a peer (librdmacm), and the finding when none does.
@Suite struct RDMARouteTests {
    @Test func anInvalidAddressIsRefused() {
        #expect(RDMARouteResolver.resolve(ipv4: "10.0.0") == .failure(.invalidAddress("10.0.0")))
    }

    @Test func thisMachineResolvesOnlyThroughItsOwnRDMADevices() {
        let devices = TopologyDiscovery.live().rdmaDevices.map(\.name)
        switch RDMARouteResolver.resolve(ipv4: "127.0.0.1", timeout: .milliseconds(500)) {
        case let .success(route):
            #expect(devices.contains(route.device), "routed through \(route.device), not one of \(devices)")
        case let .failure(error):
            // No RDMA device here (or none on loopback): a clear reason, never a crash or a hang.
            #expect(error.description.contains("librdmacm is unavailable") || error.description.contains("no RDMA device here routes"))
        }
    }

    /// A reachable peer whose topology is `remote`, with the route the prober found.
    private func peer(_ remote: NodeTopology, routeError: String?) -> PeerReport {
        var peer = PeerReport(address: "192.168.1.7:7470", reachable: true)
        peer.remote = remote
        peer.localInterface = "eno1"
        if let routeError { peer.rdmaRouteError = routeError } else { peer.rdmaRoute = RDMARoute(device: "mlx5_0", port: 1) }
        return peer
    }

    @Test func anRDMANodeReachingThePeerOffItsFabricIsWarned() throws {
        let local = try TopologyDiscovery.recorded(path: Fixture.infiniBandHealthy)
        let found = PeerAnalysis().findings(local: local, peer: peer(local, routeError: "no RDMA device here routes to 192.168.1.7: No such device"))
        let route = try #require(found.first { $0.code == .peerRouteNotRDMA })
        #expect(route.severity == .warning && route.subject == "192.168.1.7:7470")
        #expect(route.message.contains("the probe left through eno1"))
        #expect(!PeerAnalysis().findings(local: local, peer: peer(local, routeError: nil)).contains { $0.code == .peerRouteNotRDMA })
    }
}
