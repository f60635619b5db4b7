import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import Testing

@Suite struct PairingPolicyTests {
    private func candidate(
        _ id: String, _ role: WorkerRole, node: String = "", rack: String = "", free: Int = 100, load: Int = 0,
        hash: String = "h"
    )
        -> PairingCandidate
    {
        PairingCandidate(
            identity: WorkerIdentity(id: id, instance: 1), role: role, model: "m", compatibility: hash, node: node,
            rack: rack,
            freeBlocks: free, load: load)
    }

    @Test func prefersTheSameNodeThenTheSameRack() {
        let policy = DefaultPairingPolicy()
        let prefill = [
            candidate("p-far", .prefill, node: "a", rack: "r1"), candidate("p-near", .prefill, node: "b", rack: "r2"),
        ]
        let decode = [candidate("d", .decode, node: "b", rack: "r2")]
        #expect(
            policy.choose(PairingDemand(model: "m", blocks: 1), prefill: prefill, decode: decode)?.prefill.identity.id
                == "p-near")
        let rackOnly = [
            candidate("p-rack", .prefill, node: "x", rack: "r2"), candidate("p-far", .prefill, node: "a", rack: "r1"),
        ]
        #expect(
            policy.choose(PairingDemand(model: "m", blocks: 1), prefill: rackOnly, decode: decode)?.prefill.identity.id
                == "p-rack")
    }

    @Test func picksTheShortestPrefillQueueAndADecodeWorkerWithRoom() {
        let policy = DefaultPairingPolicy()
        let prefill = [candidate("p-busy", .prefill, load: 5), candidate("p-idle", .prefill, load: 0)]
        let decode = [
            candidate("d-full", .decode, free: 3), candidate("d-loaded", .decode, free: 50, load: 4),
            candidate("d-free", .decode, free: 50, load: 1),
        ]
        let pair = policy.choose(PairingDemand(model: "m", blocks: 10), prefill: prefill, decode: decode)
        #expect(pair?.prefill.identity.id == "p-idle")
        #expect(pair?.decode.identity.id == "d-free")
    }

    @Test func neverPairsWorkersWhoseHashesDiffer() {
        let policy = DefaultPairingPolicy()
        let pair = policy.choose(
            PairingDemand(model: "m", blocks: 1), prefill: [candidate("p", .prefill, hash: "a")],
            decode: [candidate("d", .decode, hash: "b")])
        #expect(pair == nil)
    }
}
