import HandoffControlProtocol

/// The default pairing: only workers of the requested model with the same compatibility hash; a decode worker
/// with enough free blocks; then the nearest pair (same node, then same rack), then the prefill worker with the
/// shortest queue, then the least loaded decode worker, then the decode worker with the most free blocks.
///
/// A pair's score orders its prefill side before its decode side, so within a group of equally near workers the
/// best pair is the best prefill worker with the best decode worker, each found alone: a decision is one pass
/// over the candidates (grouped by compatibility, node and rack), not a look at every prefill × decode pair. The
/// coordinator does not even make that pass: its `PairingIndex` keeps each group's workers in this order as their
/// loads change, and gives the same pair.
public struct DefaultPairingPolicy: PairingPolicy {
    public init() {}

    public func choose(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )? {
        chooseIndices(demand, prefill: prefill, decode: decode).map { (prefill[$0.prefill], decode[$0.decode]) }
    }

    /// `choose` as indices into the two lists.
    private func chooseIndices(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (prefill: Int, decode: Int)? {
        let model = demand.model.lowercased()
        let serves = { (candidate: PairingCandidate) in
            candidate.model == demand.model || candidate.model.lowercased() == model
        }
        // Indices, not copies: a decision at a thousand workers should not copy a thousand candidates thrice.
        let decoders = decode.indices.filter {
            decode[$0].freeBlocks >= demand.blocks && (demand.decode == nil || decode[$0].identity == demand.decode)
                && serves(decode[$0])
        }
        guard !decoders.isEmpty else { return nil }
        let allPrefill = prefill.indices.filter { prefill[$0].freeBlocks >= demand.blocks && serves(prefill[$0]) }
        let preferred =
            demand.avoidPrefill.isEmpty
            ? allPrefill : allPrefill.filter { !demand.avoidPrefill.contains(prefill[$0].identity.id) }
        return best(prefill, preferred, decode, decoders)
            ?? (preferred.count < allPrefill.count ? best(prefill, allPrefill, decode, decoders) : nil)
    }

    /// The best pair: for each group of workers at one distance (same node, same rack, same compatibility), its
    /// best prefill and best decode worker; then the best of those pairs. Groups are keyed by the coordinator's
    /// interned numbers when every candidate has them, by the labels otherwise.
    private func best(
        _ prefill: [PairingCandidate], _ prefillIndices: [Int], _ decode: [PairingCandidate], _ decodeIndices: [Int]
    ) -> (prefill: Int, decode: Int)? {
        guard !prefillIndices.isEmpty else { return nil }
        if prefill.allSatisfy({ $0.groupKeys != nil }) && decode.allSatisfy({ $0.groupKeys != nil }) {
            return best(prefill, prefillIndices, decode, decodeIndices) { candidate, distance -> Int? in
                guard let keys = candidate.groupKeys else { return nil }
                let place = distance == 0 ? keys.node : distance == 1 ? keys.rack : 0
                return place < 0 ? nil : keys.compatibility << 42 | distance << 40 | place
            }
        }
        return best(prefill, prefillIndices, decode, decodeIndices) { candidate, distance -> GroupKey? in
            let place = distance == 0 ? candidate.node : distance == 1 ? candidate.rack : ""
            return distance < 2 && place.isEmpty
                ? nil : GroupKey(compatibility: candidate.compatibility, distance: distance, place: place)
        }
    }

    /// `best` over groups keyed by `key(candidate, distance)`: nil when the candidate is in no group at that
    /// distance (an empty label). A pair scored in a farther group than it is in also scores in the nearer one,
    /// and lower there.
    private func best<Key: Hashable>(
        _ prefill: [PairingCandidate], _ prefillIndices: [Int], _ decode: [PairingCandidate], _ decodeIndices: [Int],
        key: (PairingCandidate, Int) -> Key?
    ) -> (prefill: Int, decode: Int)? {
        var groups: [Key: Group] = [:]
        for index in prefillIndices {
            for distance in 0...2 {
                guard let key = key(prefill[index], distance) else { continue }
                groups[key, default: Group(distance: distance)].offer(prefill: index, of: prefill)
            }
        }
        for index in decodeIndices {
            for distance in 0...2 {
                guard let key = key(decode[index], distance) else { continue }
                groups[key, default: Group(distance: distance)].offer(decode: index, of: decode)
            }
        }
        var chosen: (prefill: Int, decode: Int)?
        var chosenScore: Score?
        for group in groups.values {
            guard let p = group.prefill, let d = group.decode else { continue }
            let score = Score(
                distance: group.distance, prefillLoad: prefill[p].load, decodeLoad: decode[d].load,
                decodeFree: -decode[d].freeBlocks, prefillName: prefill[p].identity.id,
                decodeName: decode[d].identity.id)
            if chosenScore.map({ score < $0 }) ?? true {
                chosen = (p, d)
                chosenScore = score
            }
        }
        return chosen
    }

    private struct GroupKey: Hashable {
        var compatibility: String
        var distance: Int
        var place: String
    }

    /// The best prefill worker (shortest queue, then name) and decode worker (least loaded, most free, then name)
    /// of one group, as indices into the candidate lists.
    private struct Group {
        var distance: Int
        var prefill: Int?
        var decode: Int?

        init(distance: Int) { self.distance = distance }

        mutating func offer(prefill index: Int, of candidates: [PairingCandidate]) {
            if let current = prefill,
                (candidates[current].load, candidates[current].identity.id)
                    <= (candidates[index].load, candidates[index].identity.id)
            {
                return
            }
            prefill = index
        }

        mutating func offer(decode index: Int, of candidates: [PairingCandidate]) {
            if let current = decode,
                (candidates[current].load, -candidates[current].freeBlocks, candidates[current].identity.id)
                    <= (candidates[index].load, -candidates[index].freeBlocks, candidates[index].identity.id)
            {
                return
            }
            decode = index
        }
    }

    private struct Score: Comparable {
        var distance: Int
        var prefillLoad: Int
        var decodeLoad: Int
        var decodeFree: Int
        var prefillName: String
        var decodeName: String

        static func < (lhs: Score, rhs: Score) -> Bool {
            (lhs.distance, lhs.prefillLoad, lhs.decodeLoad, lhs.decodeFree, lhs.prefillName, lhs.decodeName)
                < (rhs.distance, rhs.prefillLoad, rhs.decodeLoad, rhs.decodeFree, rhs.prefillName, rhs.decodeName)
        }
    }
}
