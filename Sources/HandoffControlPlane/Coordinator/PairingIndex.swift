import HandoffControlProtocol

/// The live workers of each model, kept in the default policy's order inside every group of equally near workers
/// (one node, one rack, one compatibility hash), so that a decision reads the first fitting workers of the groups
/// that hold both roles instead of every worker of the model.
///
/// A worker's load state moves itself within its groups (at most three) whenever its load or free blocks change:
/// a binary search and a move in each. A decision looks at the groups of the nearest distance that has a fitting
/// pair; only a group whose workers are all too full or all avoided is read past its first worker.
final class PairingIndex {
    private var models: [String: ModelWorkers] = [:]

    /// Adds a live worker: `state.base.model` (lowercased) is its model.
    func insert(_ state: WorkerLoadState) {
        let model = state.base.model.lowercased()
        let entry = models[model] ?? ModelWorkers()
        models[model] = entry
        entry.insert(state)
    }

    /// Takes a worker out; nothing when it is not in.
    func remove(_ state: WorkerLoadState) {
        let model = state.base.model.lowercased()
        guard let entry = models[model] else { return }
        entry.remove(state)
        if entry.isEmpty { models[model] = nil }
    }

    /// Any live worker of `model` (lowercased or not), nil when none serves it.
    func anyWorker(serving model: String) -> WorkerLoadState? {
        models[model.lowercased()]?.workers.values.first
    }

    /// The live workers of `model`, by role, for a policy other than the default one.
    func states(serving model: String) -> (prefill: [WorkerLoadState], decode: [WorkerLoadState]) {
        var prefill: [WorkerLoadState] = []
        var decode: [WorkerLoadState] = []
        for state in (models[model.lowercased()]?.workers ?? [:]).values {
            if state.base.role == .prefill { prefill.append(state) } else { decode.append(state) }
        }
        return (prefill, decode)
    }

    /// What `DefaultPairingPolicy` chooses for `demand` among the live workers.
    func choose(_ demand: PairingDemand) -> (prefill: WorkerLoadState, decode: WorkerLoadState)? {
        guard let entry = models[demand.model.lowercased()] else { return nil }
        if let pair = entry.best(demand, avoiding: demand.avoidPrefill) { return pair }
        // Avoided prefill workers are used when nothing else fits.
        return demand.avoidPrefill.isEmpty ? nil : entry.best(demand, avoiding: [])
    }
}

/// A worker's place in the default policy's order: less load first; for a decode worker, then more free blocks;
/// then the id (unique among live workers, so no two workers rank equal).
struct PairingRank: Comparable {
    var load: Int
    /// Minus the free blocks for a decode worker; 0 for a prefill worker, whose free blocks do not order it.
    var lessFree: Int
    var id: String

    static func < (lhs: PairingRank, rhs: PairingRank) -> Bool {
        if lhs.load != rhs.load { return lhs.load < rhs.load }
        if lhs.lessFree != rhs.lessFree { return lhs.lessFree < rhs.lessFree }
        return lhs.id < rhs.id
    }
}

/// The live workers of one pairing group, each role in rank order.
final class PairingGroup {
    /// 0: one node; 1: one rack; 2: one compatibility hash.
    let distance: Int
    private(set) var prefill: [WorkerLoadState] = []
    private(set) var decode: [WorkerLoadState] = []

    init(distance: Int) { self.distance = distance }

    var isEmpty: Bool { prefill.isEmpty && decode.isEmpty }
    var hasBothRoles: Bool { !prefill.isEmpty && !decode.isEmpty }

    func insert(_ state: WorkerLoadState) {
        if state.base.role == .prefill {
            Self.insert(state, into: &prefill)
        } else {
            Self.insert(state, into: &decode)
        }
    }

    func remove(_ state: WorkerLoadState, rankedAt rank: PairingRank) {
        if state.base.role == .prefill {
            Self.remove(state, rankedAt: rank, from: &prefill)
        } else {
            Self.remove(state, rankedAt: rank, from: &decode)
        }
    }

    /// Moves `state`, ranked at `old` until now, to its place at `state.rank`.
    func reorder(_ state: WorkerLoadState, from old: PairingRank) {
        remove(state, rankedAt: old)
        insert(state)
    }

    private static func insert(_ state: WorkerLoadState, into ranked: inout [WorkerLoadState]) {
        ranked.insert(state, at: position(of: state.rank, in: ranked))
    }

    private static func remove(
        _ state: WorkerLoadState, rankedAt rank: PairingRank, from ranked: inout [WorkerLoadState]
    ) {
        let index = position(of: rank, in: ranked)
        if index < ranked.count && ranked[index] === state {
            ranked.remove(at: index)
        } else if let found = ranked.firstIndex(where: { $0 === state }) {
            // Not where its rank says: cannot happen while every change reorders it, but a wrong place must not
            // leave a stale worker in the group.
            ranked.remove(at: found)
        }
    }

    /// The first index whose rank is not below `rank`.
    private static func position(of rank: PairingRank, in ranked: [WorkerLoadState]) -> Int {
        var low = 0
        var high = ranked.count
        while low < high {
            let middle = (low + high) / 2
            if ranked[middle].rank < rank { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// One model's live workers and their groups.
private final class ModelWorkers {
    private(set) var workers: [String: WorkerLoadState] = [:]
    private var groups: [GroupID: PairingGroup] = [:]
    /// By distance, the groups that hold workers of both roles: the only ones a decision reads.
    private var pairable: [Set<GroupID>] = [[], [], []]

    var isEmpty: Bool { workers.isEmpty }

    func insert(_ state: WorkerLoadState) {
        if let existing = workers[state.base.identity.id] { remove(existing) }
        workers[state.base.identity.id] = state
        state.rank = state.currentRank
        var memberships: [WorkerLoadState.Membership] = []
        for id in Self.groupIDs(of: state) {
            let group = groups[id] ?? PairingGroup(distance: id.distance)
            groups[id] = group
            group.insert(state)
            if group.hasBothRoles { pairable[id.distance].insert(id) }
            memberships.append(.init(group: group))
        }
        state.memberships = memberships
    }

    func remove(_ state: WorkerLoadState) {
        guard workers[state.base.identity.id] === state else { return }
        workers[state.base.identity.id] = nil
        state.memberships = []
        for id in Self.groupIDs(of: state) {
            guard let group = groups[id] else { continue }
            group.remove(state, rankedAt: state.rank)
            if !group.hasBothRoles { pairable[id.distance].remove(id) }
            if group.isEmpty { groups[id] = nil }
        }
    }

    /// The default policy's pair among the groups of the nearest distance that has one.
    func best(
        _ demand: PairingDemand, avoiding avoided: Set<String>
    ) -> (prefill: WorkerLoadState, decode: WorkerLoadState)? {
        for distance in 0..<pairable.count {
            var chosen: (prefill: WorkerLoadState, decode: WorkerLoadState)?
            for id in pairable[distance] {
                guard let group = groups[id],
                    let decode = group.decode.first(where: { $0.fitsDecode(demand) }),
                    let prefill = group.prefill.first(where: {
                        $0.effectiveFree >= demand.blocks && !avoided.contains($0.base.identity.id)
                    })
                else { continue }
                if let current = chosen, !Self.scoresBelow((prefill, decode), current) { continue }
                chosen = (prefill, decode)
            }
            if let chosen { return chosen }
        }
        return nil
    }

    /// Whether pair `a` scores below pair `b` of the same distance, as `DefaultPairingPolicy` scores pairs.
    private static func scoresBelow(
        _ a: (prefill: WorkerLoadState, decode: WorkerLoadState),
        _ b: (prefill: WorkerLoadState, decode: WorkerLoadState)
    ) -> Bool {
        (
            a.prefill.rank.load, a.decode.rank.load, a.decode.rank.lessFree, a.prefill.rank.id, a.decode.rank.id
        ) < (b.prefill.rank.load, b.decode.rank.load, b.decode.rank.lessFree, b.prefill.rank.id, b.decode.rank.id)
    }

    /// A worker's groups: its node's and its rack's (when it has those labels) and its compatibility hash's.
    private static func groupIDs(of state: WorkerLoadState) -> [GroupID] {
        let keys = state.keys
        var ids = [GroupID(compatibility: keys.compatibility, distance: 2, place: 0)]
        if keys.node >= 0 { ids.append(GroupID(compatibility: keys.compatibility, distance: 0, place: keys.node)) }
        if keys.rack >= 0 { ids.append(GroupID(compatibility: keys.compatibility, distance: 1, place: keys.rack)) }
        return ids
    }

    private struct GroupID: Hashable {
        var compatibility: Int
        var distance: Int
        var place: Int
    }
}

extension WorkerLoadState {
    /// Whether it can take `demand` as its decode worker.
    fileprivate func fitsDecode(_ demand: PairingDemand) -> Bool {
        effectiveFree >= demand.blocks && (demand.decode == nil || base.identity == demand.decode)
    }
}
