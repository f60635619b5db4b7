import HandoffControlProtocol

/// The default pairing: only workers of the requested model with the same compatibility hash; a decode worker
/// with enough free blocks; then the nearest pair (same node, then same rack), then the prefill worker with the
/// shortest queue, then the least loaded decode worker, then the decode worker with the most free blocks.
public struct DefaultPairingPolicy: PairingPolicy {
    public init() {}

    public func choose(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )? {
        let model = demand.model.lowercased()
        let decoders = decode.filter {
            $0.model.lowercased() == model && $0.freeBlocks >= demand.blocks
                && (demand.decode == nil || $0.identity == demand.decode)
        }
        let allPrefill = prefill.filter { $0.model.lowercased() == model && $0.freeBlocks >= demand.blocks }
        let preferred = allPrefill.filter { !demand.avoidPrefill.contains($0.identity.id) }
        return best(prefill: preferred, decode: decoders) ?? best(prefill: allPrefill, decode: decoders)
    }

    private func best(
        prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )? {
        var chosen: (prefill: PairingCandidate, decode: PairingCandidate)?
        var chosenScore: Score?
        for d in decode {
            for p in prefill where p.compatibility == d.compatibility {
                let score = Score(
                    distance: distance(p, d), prefillLoad: p.load, decodeLoad: d.load, decodeFree: -d.freeBlocks,
                    names: p.identity.id + "\u{0}" + d.identity.id)
                if chosenScore.map({ score < $0 }) ?? true {
                    chosen = (p, d)
                    chosenScore = score
                }
            }
        }
        return chosen
    }

    /// 0 on the same node, 1 in the same rack, 2 otherwise (unlabelled workers count as far apart).
    private func distance(_ a: PairingCandidate, _ b: PairingCandidate) -> Int {
        if !a.node.isEmpty && a.node == b.node { return 0 }
        if !a.rack.isEmpty && a.rack == b.rack { return 1 }
        return 2
    }

    private struct Score: Comparable {
        var distance: Int
        var prefillLoad: Int
        var decodeLoad: Int
        var decodeFree: Int
        var names: String

        static func < (lhs: Score, rhs: Score) -> Bool {
            (lhs.distance, lhs.prefillLoad, lhs.decodeLoad, lhs.decodeFree, lhs.names)
                < (rhs.distance, rhs.prefillLoad, rhs.decodeLoad, rhs.decodeFree, rhs.names)
        }
    }
}
