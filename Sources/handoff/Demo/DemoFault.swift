import ArgumentParser
import Foundation
import Glibc
import HandoffCore
import HandoffEtcd

/// A fault `handoff demo --coordinators N` injects into its control plane, spread over the run.
enum DemoFault: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// SIGKILL the leader; restart it a second later.
    case killLeader = "kill-leader"
    /// SIGSTOP the leader for `--fault-seconds`, then SIGCONT: it wakes up deposed, with requests queued.
    case pauseLeader = "pause-leader"
    /// Black-hole the leader's links to every etcd member for `--fault-seconds`.
    case cutLeaderEtcd = "cut-leader-etcd"
    /// SIGKILL the etcd member every coordinator reaches first; restart it after `--fault-seconds`.
    case etcdMember = "etcd-member"
    /// SIGKILL a majority of the etcd members (no quorum); restart them after `--fault-seconds`.
    case etcdQuorum = "etcd-quorum"

    /// Whether the fault strikes the leading coordinator (rather than etcd).
    var targetsLeader: Bool { [.killLeader, .pauseLeader, .cutLeaderEtcd].contains(self) }

    /// How long the fault lasts before it is undone.
    func duration(faultSeconds: Double) -> Duration {
        self == .killLeader ? .seconds(1) : .seconds(faultSeconds)
    }
}

/// Injects and undoes one kind of fault on a demo's processes.
struct DemoFaultInjector {
    let fault: DemoFault
    let cluster: DemoCluster
    /// The etcd members the demo started (etcd faults need them).
    let etcd: LocalEtcdCluster?

    /// What was struck, to undo it.
    enum Target: Sendable {
        case coordinator(HostPort)
        case etcdMembers([Int])
    }

    /// Strikes `leader` (or etcd); returns what to undo.
    func inject(leader: HostPort) -> Target {
        switch fault {
        case .killLeader:
            cluster.killCoordinator(leader)
            return .coordinator(leader)
        case .pauseLeader:
            cluster.pauseCoordinator(leader, true)
            return .coordinator(leader)
        case .cutLeaderEtcd:
            cluster.cutEtcd(of: leader, true)
            return .coordinator(leader)
        case .etcdMember:
            etcd?.kill(member: 0)
            return .etcdMembers([0])
        case .etcdQuorum:
            let majority = Array(0..<((etcd?.count ?? 0) / 2 + 1))
            for member in majority { etcd?.kill(member: member) }
            return .etcdMembers(majority)
        }
    }

    /// Undoes what `inject` did.
    func heal(_ target: Target) async throws {
        switch (fault, target) {
        case (.killLeader, .coordinator(let endpoint)): try await cluster.restartCoordinator(endpoint)
        case (.pauseLeader, .coordinator(let endpoint)): cluster.pauseCoordinator(endpoint, false)
        case (.cutLeaderEtcd, .coordinator(let endpoint)): cluster.cutEtcd(of: endpoint, false)
        case (_, .etcdMembers(let members)): for member in members { try etcd?.restart(member: member) }
        default: break
        }
    }

    /// What the report names as struck.
    static func describe(_ target: Target) -> String {
        switch target {
        case .coordinator(let endpoint): "\(endpoint)"
        case .etcdMembers(let members):
            "etcd member" + (members.count > 1 ? "s " : " ") + members.map { "e\($0)" }.joined(separator: ",")
        }
    }
}

/// Busy processes, one per core, for the run (`--cpu-hog`): everything the demo starts competes with them.
final class CPUHog {
    private var processes: [Process] = []

    init(processes count: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        for _ in 0..<count {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = ["/dev/zero"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
    }

    func stop() {
        // SIGKILL: a child may have inherited SIGTERM ignored (the demo's own signal handling).
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
        processes = []
    }

    deinit { stop() }
}
