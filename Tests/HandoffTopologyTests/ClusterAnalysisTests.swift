import HandoffTopology
import Testing

/// The cluster findings that real processes on one machine cannot show: workers on several hosts, an
/// unreadable descriptor.
@Suite struct ClusterAnalysisTests {
    private func worker(
        _ id: String, _ role: String, host: String, offers: [ClusterWorker.Offer], descriptorError: String? = nil
    ) -> ClusterWorker {
        ClusterWorker(
            id: id, role: role, model: "llama-3.1-8b", compatibility: "e2fbf0a7d5dfbf27", node: host, transport: "auto", offers: offers,
            host: host, memoryType: "host", descriptorError: descriptorError)
    }

    @Test func aLoopbackOnlyWorkerWithPeersOnOtherHostsIsAnErrorWithoutUCXAndAWarningWithIt() {
        let loopback = ClusterWorker.Offer(transport: "tcp", endpoints: ["127.0.0.1:4000"])
        let reachable = ClusterWorker.Offer(transport: "tcp", endpoints: ["10.0.0.2:4000"])
        let ucx = ClusterWorker.Offer(transport: "ucx")
        let tcpOnly = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [loopback]), worker("d1", "decode", host: "b", offers: [reachable]),
        ])
        let error = tcpOnly.first { $0.code == .workerLoopbackOnly }
        #expect(error?.severity == .error)
        #expect(error?.subject == "p1")
        #expect(error?.message.contains("d1") == true)

        let withUCX = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [ucx, loopback]), worker("d1", "decode", host: "b", offers: [ucx, reachable]),
        ])
        #expect(withUCX.first { $0.code == .workerLoopbackOnly }?.severity == .warning)

        let sameHost = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [loopback]), worker("d1", "decode", host: "a", offers: [reachable]),
        ])
        #expect(!sameHost.contains { $0.code == .workerLoopbackOnly })
    }

    @Test func anUnreadableDescriptorIsAnErrorAndNotCountedAsTCPOnly() {
        let findings = ClusterAnalysis().findings(for: [
            worker("p1", "prefill", host: "a", offers: [], descriptorError: "bad magic"),
            worker("d1", "decode", host: "a", offers: [ClusterWorker.Offer(transport: "ucx")]),
        ])
        #expect(findings.first?.code == .workerDescriptorInvalid)
        #expect(findings.first?.message.contains("bad magic") == true)
        #expect(!findings.contains { $0.code == .workerTCPOnly || $0.code == .noCommonTransport })
    }

    @Test func manyUnservablePairsAreCountedInOneFinding() {
        let prefill = (1...3).map { worker("p\($0)", "prefill", host: "a", offers: [ClusterWorker.Offer(transport: "ucx")]) }
        let decode = (1...3).map { worker("d\($0)", "decode", host: "b", offers: [ClusterWorker.Offer(transport: "tcp", endpoints: ["10.0.0.9:1"])]) }
        let unservable = ClusterAnalysis().findings(for: prefill + decode).filter { $0.code == .noCommonTransport }
        #expect(unservable.count == 1)
        #expect(unservable.first?.message.contains("9 prefill/decode pair(s)") == true)
        #expect(unservable.first?.message.contains("and 5 more") == true)
    }
}
