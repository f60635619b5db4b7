import Foundation
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffEtcd
import Synchronization
import Testing

/// Leader election and the worker registry against a real etcd member on loopback (Debian's etcd-server, which
/// the README's test command installs).
@Suite(.serialized) struct ClusterElectionTests {
    @Test func oneCoordinatorLeadsTheOtherFollowsItAndTakesTheRegistryOverWhenItStepsDown() async throws {
        try await withLocalEtcd { endpoints in
            let (first, second) = (Coordinator(), Coordinator())
            let leader = LeaderElection(cluster: Self.cluster(endpoints, port: 1001), coordinator: first)
            let follower = LeaderElection(cluster: Self.cluster(endpoints, port: 1002), coordinator: second)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await leader.run() }
                try await eventually("the first coordinator leads") { leader.role.isLeader }
                group.addTask { await follower.run() }
                try await eventually("the second follows the first") {
                    follower.role.current == .follower(leader: "127.0.0.1:1001")
                }

                let worker = CoordinatorFixture.registration("p0", .prefill, instance: 42)
                try await first.register(worker, outbox: Mailbox(identity: worker.identity).outbox)
                try await eventually("the registration is in etcd") {
                    try await Self.registryKeys(endpoints) == ["/handoff/test/workers/p0"]
                }

                await leader.stepDown()
                try await eventually("the second coordinator leads") { follower.role.isLeader }
                #expect(follower.role.current == .leader(term: 2))
                let adopted = await second.workerStatuses().filter(\.live).map(\.registration)
                #expect(adopted == [worker], "the new leader did not adopt the registry")
                group.cancelAll()
            }
        }
    }

    @Test func aLeaderWhoseLeaseEndsBehindItsBackStepsDownWritesNothingAndFollowsItsSuccessor() async throws {
        try await withLocalEtcd { endpoints in
            let (first, second) = (Coordinator(), Coordinator())
            let deposed = LeaderElection(cluster: Self.cluster(endpoints, port: 1001), coordinator: first)
            let successor = LeaderElection(cluster: Self.cluster(endpoints, port: 1002), coordinator: second)
            let returned = ElectionEnded()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await deposed.run()
                    returned.value.store(true, ordering: .releasing)
                }
                try await eventually("the first coordinator leads") { deposed.role.isLeader }
                let early = CoordinatorFixture.registration("p0", .prefill, instance: 1)
                let session = Mailbox(identity: early.identity)
                try await first.register(early, outbox: session.outbox)
                group.addTask { await successor.run() }
                // Its lease ends behind its back (as after a long stall) and the other coordinator is elected.
                try await withEtcdClient(endpoints) { etcd in
                    let candidacies = try await etcd.range(prefix: "/handoff/test/leader")
                    let first = try #require(candidacies.first { $0.value == Data("127.0.0.1:1001".utf8) })
                    try await etcd.revokeLease(first.lease)
                }
                try await eventually("the second coordinator leads") { successor.role.isLeader }

                // The first gave up at once: its worker's session is closed, and it refuses to act.
                try await eventually("the first stepped down") { !deposed.role.isLeader }
                try await eventually("the worker's session was closed") { session.outbox.isFinished }
                let late = CoordinatorFixture.registration("p9", .prefill, instance: 9)
                await #expect(throws: CoordinatorError.self) {
                    try await first.register(late, outbox: Mailbox(identity: late.identity).outbox)
                }
                #expect(
                    try await !Self.registryKeys(endpoints).contains("/handoff/test/workers/p9"),
                    "a deposed leader wrote the registry")
                // It keeps running, follows its successor, and campaigns to lead after it.
                try await eventually("the first follows the second") {
                    deposed.role.current == .follower(leader: "127.0.0.1:1002")
                }
                let ended = returned.value.load(ordering: .acquiring)
                #expect(!ended, "the election of the deposed coordinator ended")
                await successor.stepDown()
                try await eventually("the first leads again") { deposed.role.isLeader }
                #expect(await first.isLeading)
                group.cancelAll()
            }
        }
    }

    static func cluster(_ endpoints: EtcdEndpoints, port: Int) -> ClusterConfiguration {
        // A 3 s lease, so that a stall of the test machine does not end a leadership: the handovers here are
        // steps down, which take effect at once.
        ClusterConfiguration(
            etcd: endpoints, name: "test", advertise: HostPort(host: "127.0.0.1", port: port), leaderTTLSeconds: 3)
    }

    static func registryKeys(_ endpoints: EtcdEndpoints) async throws -> [String] {
        try await withEtcdClient(endpoints) { try await $0.range(prefix: "/handoff/test/workers/").map(\.key) }
    }
}

/// Runs `body` with a one-member etcd started for it, stopped afterwards.
func withLocalEtcd(_ body: (EtcdEndpoints) async throws -> Void) async throws {
    let etcd = try await LocalEtcdCluster(members: 1, heartbeatMilliseconds: 100, electionTimeoutMilliseconds: 1000)
    do {
        try await body(etcd.endpoints)
    } catch {
        await etcd.stop()
        throw error
    }
    await etcd.stop()
}

/// Polls `condition` every 20 ms until it holds; fails the test after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("not within \(timeout): \(what)")
    throw CancellationError()
}

/// Set when an election's `run` returned.
final class ElectionEnded: Sendable {
    let value = Atomic<Bool>(false)
}
