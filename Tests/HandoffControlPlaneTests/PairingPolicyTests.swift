import HandoffClient
import HandoffControlProtocol
import HandoffCore
import Testing

@testable import HandoffControlPlane

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

    /// The default policy picks what scoring every prefill × decode pair picks, on random fleets with shared nodes
    /// and racks, several hashes, loads, free blocks and avoided workers.
    @Test func choosesWhatScoringEveryPairChooses() {
        var random = SplitMix64(seed: 7)
        func draw(_ range: Range<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
        for round in 0..<2_000 {
            let places = ["", "n1", "n2", "n3"]
            let fleet = (0..<draw(1..<24)).map { index in
                candidate(
                    "w\(draw(0..<40))-\(index)", draw(0..<2) == 0 ? .prefill : .decode, node: places[draw(0..<4)],
                    rack: ["", "r1", "r2"][draw(0..<3)], free: draw(0..<12), load: draw(0..<4),
                    hash: ["a", "b"][draw(0..<2)])
            }
            let prefill = fleet.filter { $0.role == .prefill }
            let decode = fleet.filter { $0.role == .decode }
            let avoid = Set(prefill.filter { _ in draw(0..<4) == 0 }.map(\.identity.id))
            let demand = PairingDemand(model: "m", blocks: draw(1..<8), avoidPrefill: avoid)
            let chosen = DefaultPairingPolicy().choose(demand, prefill: prefill, decode: decode)
            let expected = Self.scoringEveryPair(demand, prefill: prefill, decode: decode)
            #expect(chosen?.prefill == expected?.prefill && chosen?.decode == expected?.decode, "round \(round)")
            // The same with the labels interned, as the coordinator passes them.
            let interned = DefaultPairingPolicy().choose(
                demand, prefill: Self.interning(prefill), decode: Self.interning(decode))
            #expect(interned?.prefill.identity == expected?.prefill.identity, "round \(round), interned")
            #expect(interned?.decode.identity == expected?.decode.identity, "round \(round), interned")
        }
    }

    /// The candidates with their labels numbered as the coordinator numbers them (one table, -1 for empty).
    static func interning(_ candidates: [PairingCandidate]) -> [PairingCandidate] {
        let labels = ["", "a", "b", "n1", "n2", "n3", "r1", "r2"]
        func number(_ label: String) -> Int { label.isEmpty ? -1 : labels.firstIndex(of: label)! }
        return candidates.map { candidate in
            var numbered = candidate
            numbered.groupKeys = .init(
                compatibility: number(candidate.compatibility), rack: number(candidate.rack),
                node: number(candidate.node))
            return numbered
        }
    }

    /// The policy's meaning, stated the slow way: the pair with the lowest (distance, prefill load, decode load,
    /// −decode free, names), among workers not avoided if any such pair exists.
    static func scoringEveryPair(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (prefill: PairingCandidate, decode: PairingCandidate)? {
        func distance(_ a: PairingCandidate, _ b: PairingCandidate) -> Int {
            if !a.node.isEmpty && a.node == b.node { return 0 }
            return !a.rack.isEmpty && a.rack == b.rack ? 1 : 2
        }
        func best(_ prefill: [PairingCandidate]) -> (prefill: PairingCandidate, decode: PairingCandidate)? {
            var chosen: (prefill: PairingCandidate, decode: PairingCandidate)?
            var score: (Int, Int, Int, Int, String)?
            for d in decode where d.freeBlocks >= demand.blocks {
                for p in prefill where p.freeBlocks >= demand.blocks && p.compatibility == d.compatibility {
                    let candidate = (
                        distance(p, d), p.load, d.load, -d.freeBlocks, p.identity.id + "\u{0}" + d.identity.id
                    )
                    if score.map({ candidate < $0 }) ?? true {
                        (chosen, score) = ((p, d), candidate)
                    }
                }
            }
            return chosen
        }
        return best(prefill.filter { !demand.avoidPrefill.contains($0.identity.id) }) ?? best(prefill)
    }
}
