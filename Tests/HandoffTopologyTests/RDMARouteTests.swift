import Foundation
import Glibc
import HandoffCore
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
        case .success(let route):
            #expect(devices.contains(route.device), "routed through \(route.device), not one of \(devices)")
        case .failure(let error):
            // No RDMA device here (or none on loopback): a clear reason, never a crash or a hang.
            #expect(
                error.description.contains("librdmacm is unavailable")
                    || error.description.contains("no RDMA device here routes"))
        }
    }

    /// A reachable peer whose topology is `remote`, with the route the prober found.
    private func peer(_ remote: NodeTopology, routeError: RDMARouteError?) -> PeerReport {
        var peer = PeerReport(address: "192.168.1.7:7470", reachable: true)
        peer.remote = remote
        peer.localInterface = "eno1"
        if let routeError {
            peer.rdmaRouteError = routeError
        } else {
            peer.rdmaRoute = RDMARoute(device: "mlx5_0", port: 1)
        }
        return peer
    }

    @Test func anRDMANodeReachingThePeerOffItsFabricIsToldOnlyWhenTheRouteLeavesThroughANonRDMADevice() throws {
        let local = try TopologyDiscovery.recorded(path: Fixture.infiniBandHealthy)
        let offFabric = PeerAnalysis().findings(
            local: local, peer: peer(local, routeError: .noRoute(address: "192.168.1.7", errno: ENODEV)))
        let route = try #require(offFabric.first { $0.code == .peerRouteNotRDMA })
        #expect(route.severity == .info && route.subject == "192.168.1.7:7470")
        #expect(route.message.hasPrefix("No RDMA device here routes to 192.168.1.7 (the probe left through eno1)"))
        #expect(route.message.contains("UCX's RDMA lanes do not use it"))
        for notOffFabric: RDMARouteError? in [
            nil, .unavailable(errno: ENOENT), .noRoute(address: "192.168.1.7", errno: ETIMEDOUT),
        ] {
            let found = PeerAnalysis().findings(local: local, peer: peer(local, routeError: notOffFabric))
            #expect(!found.contains { $0.code == .peerRouteNotRDMA }, "\(String(describing: notOffFabric))")
        }
    }

    @Test func routeErrorsKeepTheirKindInJSON() throws {
        let error = RDMARouteError.noRoute(address: "10.1.2.3", errno: ENODEV)
        let data = try JSONEncoder().encode(error)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["kind"] as? String == "no-route" && object["errno"] as? Int == Int(ENODEV))
        #expect(try JSONDecoder().decode(RDMARouteError.self, from: data) == error)
    }
}
