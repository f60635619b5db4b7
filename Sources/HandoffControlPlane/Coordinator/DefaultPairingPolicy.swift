import HandoffControlProtocol

/// The default pairing: only workers of the requested model with the same compatibility hash; a decode worker
/// with enough free blocks; then the nearest pair (same node, then same rack), then the prefill worker with the
/// shortest queue, then the least loaded decode worker, then the decode worker with the most free blocks.
///
/// A pair's score orders its prefill side before its decode side, so within a group of equally near workers the
/// best pair is the best prefill worker with the best decode worker, each found alone: a decision is one pass
/// over the candidates (grouped by compatibility, node and rack), not a look at every prefill × decode pair.
public struct DefaultPairingPolicy: PairingPolicy {
    public init() {}

    public func choose(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )? {
        let model = demand.model.lowercased()
        let decoders = decode.filter {
            $0.freeBlocks >= demand.blocks && (demand.decode == nil || $0.identity == demand.decode)
                && $0.model.lowercased() == model
        }
        guard !decoders.isEmpty else { return nil }
        let allPrefill = prefill.filter { $0.freeBlocks >= demand.blocks && $0.model.lowercased() == model }
        let preferred = allPrefill.filter { !demand.avoidPrefill.contains($0.identity.id) }
        return best(prefill: preferred, decode: decoders) ?? best(prefill: allPrefill, decode: decoders)
    }

    /// The best pair: for each group of workers at one distance (same node, same rack, same compatibility), its
    /// best prefill and best decode worker; then the best of those pairs.
    private func best(
        prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )? {
        guard !prefill.isEmpty else { return nil }
        var groups: [GroupKey: Group] = [:]
        for candidate in prefill {
            for key in keys(of: candidate) { groups[key, default: Group()].offer(prefill: candidate) }
        }
        for candidate in decode {
            for key in keys(of: candidate) { groups[key, default: Group()].offer(decode: candidate) }
        }
        var chosen: (prefill: PairingCandidate, decode: PairingCandidate)?
        var chosenScore: Score?
        for (key, group) in groups {
            guard let p = group.prefill, let d = group.decode else { continue }
            let score = Score(
                distance: key.distance, prefillLoad: p.load, decodeLoad: d.load, decodeFree: -d.freeBlocks,
                prefillName: p.identity.id, decodeName: d.identity.id)
            if chosenScore.map({ score < $0 }) ?? true {
                chosen = (p, d)
                chosenScore = score
            }
        }
        return chosen
    }

    /// The groups a worker belongs to: its node (distance 0) and rack (1) when labelled, and its compatibility
    /// (2). A pair scored in a farther group than it is in also scores in the nearer one, and lower there.
    private func keys(of candidate: PairingCandidate) -> [GroupKey] {
        var keys = [GroupKey(compatibility: candidate.compatibility, distance: 2, place: "")]
        if !candidate.rack.isEmpty {
            keys.append(GroupKey(compatibility: candidate.compatibility, distance: 1, place: candidate.rack))
        }
        if !candidate.node.isEmpty {
            keys.append(GroupKey(compatibility: candidate.compatibility, distance: 0, place: candidate.node))
        }
        return keys
    }

    private struct GroupKey: Hashable {
        var compatibility: String
        var distance: Int
        var place: String
    }

    /// The best prefill worker (shortest queue, then name) and decode worker (least loaded, most free, then name)
    /// of one group.
    private struct Group {
        var prefill: PairingCandidate?
        var decode: PairingCandidate?

        mutating func offer(prefill candidate: PairingCandidate) {
            if let current = prefill,
                (current.load, current.identity.id) <= (candidate.load, candidate.identity.id)
            {
                return
            }
            prefill = candidate
        }

        mutating func offer(decode candidate: PairingCandidate) {
            if let current = decode,
                (current.load, -current.freeBlocks, current.identity.id)
                    <= (candidate.load, -candidate.freeBlocks, candidate.identity.id)
            {
                return
            }
            decode = candidate
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
