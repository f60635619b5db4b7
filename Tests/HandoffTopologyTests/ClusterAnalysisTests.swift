import HandoffCore
import HandoffTopology
import Testing

/// The cluster findings that real processes on one machine cannot show: workers on several hosts, several
/// layouts of one model, a coordinator that lists no offers.
@Suite struct ClusterAnalysisTests {
    private func worker(
        _ id: String, _ role: String, host: String, offers: [ClusterWorker.Offer],
        compatibility: String = "e2fbf0a7d5dfbf27"
    ) -> ClusterWorker {
        ClusterWorker(
            id: id, role: role, model: "llama-3.1-8b", compatibility: compatibility, node: host, transport: "auto",
            offers: offers,
            hostIdentity: host, memoryType: "host")
    }

    private let ucx = ClusterWorker.Offer(transport: "ucx")
    private let loopback = ClusterWorker.Offer(transport: "tcp", endpoints: ["127.0.0.1:4000"])
    private let reachable = ClusterWorker.Offer(transport: "tcp", endpoints: ["10.0.0.2:4000"])

    @Test func aLoopbackOnlyWorkerIsAnErrorAcrossHostsWithoutUCXAWarningWithItAndInformationOnOneHost() {
        let tcpOnly = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [loopback]),
            worker("d1", "decode", host: "b", offers: [reachable]),
        ])
        let error = tcpOnly.first { $0.code == .workerLoopbackOnly }
        #expect(error?.severity == .error)
        #expect(error?.subject == "p1")
        #expect(error?.message.contains("d1") == true)

        let withUCX = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [ucx, loopback]),
            worker("d1", "decode", host: "b", offers: [ucx, reachable]),
        ])
        #expect(withUCX.first { $0.code == .workerLoopbackOnly }?.severity == .warning)

        // One host: reachable from its own network namespace only, which pods do not share.
        let sameHost = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [loopback]),
            worker("d1", "decode", host: "a", offers: [reachable]),
        ])
        let info = sameHost.first { $0.code == .workerLoopbackOnly }
        #expect(info?.severity == .info && info?.message.contains("network namespace") == true)
    }

    @Test func workersWhoseOffersAreNotListedGetOneWarningAndNoTransportFindings() {
        let findings = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: []), worker("d1", "decode", host: "a", offers: []),
        ])
        #expect(findings.map(\.code) == [.offersUnknown])
        #expect(findings.first?.severity == .warning)
        #expect(findings.first?.message.contains("2 live worker(s)") == true)
    }

    @Test func manyUnservablePairsAreCountedInOneFinding() {
        let prefill = (1...3).map { worker("p\($0)", "prefill", host: "a", offers: [ucx]) }
        let decode = (1...3).map { worker("d\($0)", "decode", host: "b", offers: [reachable]) }
        let unservable = ClusterAnalysis().findings(for: prefill + decode).filter { $0.code == .noCommonTransport }
        #expect(unservable.count == 1)
        #expect(unservable.first?.message.contains("9 prefill/decode pair(s)") == true)
        #expect(unservable.first?.message.contains("and 5 more") == true)
    }

    @Test func aStrayLayoutOfAServedModelIsAWarningAndAnUnservedModelAnError() {
        let served = [
            worker("p1", "prefill", host: "a", offers: [ucx]), worker("d1", "decode", host: "a", offers: [ucx]),
            worker("d2", "decode", host: "a", offers: [ucx], compatibility: "0123456789abcdef"),
        ]
        let stray = ClusterAnalysis().findings(for: served).filter { $0.code == .roleMissing }
        #expect(stray.count == 1)
        #expect(stray.first?.severity == .warning && stray.first?.message.contains("never paired") == true)

        let unserved = ClusterAnalysis().findings(for: [served[0], served[2]]).filter { $0.code == .roleMissing }
        #expect(unserved.map(\.severity) == [.error, .error], "each layout lacks a role and none serves the model")
    }

    @Test func anOrderlyShutdownIsInformationAndABrokenSessionAWarning() {
        var stopped = worker("d1", "decode", host: "a", offers: [ucx])
        stopped.live = false
        stopped.lostReason = "the worker closed its session"
        stopped.lostGracefully = true
        var crashed = worker("d2", "decode", host: "a", offers: [ucx])
        crashed.live = false
        crashed.lostReason = "no heartbeat for 3 s"
        let findings = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [ucx]), stopped, crashed,
        ])
        #expect(findings.first { $0.subject == "d1" && $0.code == .workerLost }?.severity == .info)
        #expect(findings.first { $0.subject == "d2" && $0.code == .workerLost }?.severity == .warning)
        #expect(findings.first { $0.subject == "d2" }?.message.contains("no heartbeat for 3 s") == true)
    }
}
