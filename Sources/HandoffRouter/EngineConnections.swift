import AsyncHTTPClient
import HandoffProto
import Logging
import NIOCore

/// Keeps the router's connections to the coordinator and to every live engine open before requests need them: the
/// first request then pays no connection setup (as workers' data-plane connections are made at registration).
/// Every 3 s it lists the workers and asks each engine endpoint's `/health`, which leaves a pooled
/// connection behind.
struct EngineConnections: Sendable {
    let gateway: CoordinatorGateway
    let http: HTTPClient
    let logger: Logger
    /// Below the router's pool idle timeout (4 s), so that the warm connection stays open.
    var interval: Duration = .seconds(3)

    func keepWarm() async {
        while !Task.isCancelled {
            await warm()
            try? await Task.sleep(for: interval)
        }
    }

    private func warm() async {
        guard let workers = try? await gateway.workers() else { return }
        let endpoints = Set(workers.filter { $0.state == "live" && !$0.endpoint.isEmpty }.map(\.endpoint))
        await withTaskGroup(of: Void.self) { group in
            for endpoint in endpoints {
                group.addTask {
                    var request = HTTPClientRequest(url: endpoint + "/health")
                    request.method = .GET
                    do {
                        let response = try await http.execute(request, timeout: .seconds(2))
                        _ = try await response.body.collect(upTo: 1 << 16)
                    } catch {
                        logger.debug(
                            "engine health check failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                    }
                }
            }
        }
    }
}
