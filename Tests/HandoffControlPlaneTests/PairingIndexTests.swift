import HandoffControlProtocol
import HandoffCore
import Testing

@testable import HandoffControlPlane

@Suite struct PairingIndexTests {
    /// The index picks what scoring every pair picks while workers' loads and free blocks change under it, and
    /// while workers leave and come back: every change must move the worker within its groups.
    @Test func staysInTheDefaultPolicysOrderAsLoadsChange() {
        var random = SplitMix64(seed: 11)
        func draw(_ range: Range<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
        for round in 0..<300 {
            let index = PairingIndex()
            let labels = ["", "a", "b", "n1", "n2", "n3", "r1", "r2"]
            func number(_ label: String) -> Int { label.isEmpty ? -1 : labels.firstIndex(of: label)! }
            let states = (0..<draw(1..<24)).map { position in
                let candidate = PairingCandidate(
                    identity: WorkerIdentity(id: "w\(draw(0..<40))-\(position)", instance: 1),
                    role: draw(0..<2) == 0 ? .prefill : .decode, model: "m", compatibility: ["a", "b"][draw(0..<2)],
                    node: ["", "n1", "n2", "n3"][draw(0..<4)], rack: ["", "r1", "r2"][draw(0..<3)], freeBlocks: 0,
                    load: 0)
                return WorkerLoadState(
                    base: candidate,
                    keys: .init(
                        compatibility: number(candidate.compatibility), rack: number(candidate.rack),
                        node: number(candidate.node)),
                    reportedFree: draw(0..<12))
            }
            var indexed = Set<ObjectIdentifier>()
            for state in states where draw(0..<5) > 0 {
                index.insert(state)
                indexed.insert(ObjectIdentifier(state))
            }
            for step in 0..<40 {
                let state = states[draw(0..<states.count)]
                switch draw(0..<6) {
                case 0: state.inFlight = draw(0..<4)
                case 1: state.queueDepth = draw(0..<3)
                case 2: state.reportedFree = draw(0..<12)
                case 3: state.pendingBlocks = draw(0..<6)
                case 4:
                    index.remove(state)
                    indexed.remove(ObjectIdentifier(state))
                default:
                    index.insert(state)
                    indexed.insert(ObjectIdentifier(state))
                }
                let live = states.filter { indexed.contains(ObjectIdentifier($0)) }.map { $0.candidate() }
                let prefill = live.filter { $0.role == .prefill }
                var decode = live.filter { $0.role == .decode }
                var demand = PairingDemand(
                    model: draw(0..<2) == 0 ? "m" : "M", blocks: draw(1..<8),
                    avoidPrefill: Set(prefill.filter { _ in draw(0..<4) == 0 }.map(\.identity.id)))
                if draw(0..<5) == 0, let target = decode.randomElement(using: &random) {
                    demand.decode = target.identity
                    decode = [target]
                }
                let expected = PairingPolicyTests.scoringEveryPair(demand, prefill: prefill, decode: decode)
                let chosen = index.choose(demand)
                #expect(
                    chosen?.prefill.base.identity == expected?.prefill.identity
                        && chosen?.decode.base.identity == expected?.decode.identity,
                    "round \(round) step \(step)")
            }
        }
    }

    @Test func servesOnlyTheModelAskedForAndForgetsRemovedWorkers() {
        let index = PairingIndex()
        func state(_ id: String, _ role: WorkerRole, model: String) -> WorkerLoadState {
            WorkerLoadState(
                base: PairingCandidate(
                    identity: WorkerIdentity(id: id, instance: 1), role: role, model: model, compatibility: "h",
                    node: "", rack: "", freeBlocks: 0, load: 0),
                keys: .init(compatibility: 0, rack: -1, node: -1), reportedFree: 10)
        }
        let prefill = state("p", .prefill, model: "Llama")
        let decode = state("d", .decode, model: "llama")
        let other = state("q", .prefill, model: "other")
        for worker in [prefill, decode, other] { index.insert(worker) }
        #expect(index.choose(PairingDemand(model: "LLAMA", blocks: 10))?.prefill === prefill)
        #expect(index.choose(PairingDemand(model: "llama", blocks: 11)) == nil)
        #expect(index.choose(PairingDemand(model: "other", blocks: 1)) == nil)
        index.remove(decode)
        #expect(index.choose(PairingDemand(model: "llama", blocks: 1)) == nil)
        #expect(index.anyWorker(serving: "LLAMA") === prefill)
        // A removed worker's changes no longer touch the index.
        decode.inFlight = 3
        index.insert(decode)
        #expect(index.choose(PairingDemand(model: "llama", blocks: 1))?.decode === decode)
        index.remove(prefill)
        index.remove(decode)
        #expect(index.anyWorker(serving: "llama") == nil)
        #expect(index.states(serving: "other").prefill.map { $0 === other } == [true])
    }
}
