import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffCore

/// Runs `body` with a client of the etcd cluster at `endpoints`; closes it afterwards.
///
/// - Parameter callTimeout: the deadline of every unary call (a campaign waits without one).
public func withEtcdClient<Result: Sendable>(
    _ endpoints: EtcdEndpoints, callTimeout: Duration = .seconds(5),
    _ body: (EtcdClient) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(pairs: endpoints.members.map { ($0.host, $0.port) }), transportSecurity: .plaintext,
        config: .defaults {
            $0.backoff.max = .milliseconds(500)
            // A member that vanished without closing (a cut link, a paused host) is left within 7 s; etcd refuses
            // pings more often than every 5 s (its --grpc-keepalive-min-time).
            $0.connection.keepalive = .init(time: .seconds(5), timeout: .seconds(2), allowWithoutCalls: true)
        },
        // A connection to every member, calls to those that answer: a member that dies costs a call or a stream,
        // not the client (pick-first would keep trying the first member).
        serviceConfig: ServiceConfig(loadBalancingConfig: [.roundRobin]))
    return try await withGRPCClient(transport: transport) { client in
        try await body(EtcdClient(client: client, callTimeout: callTimeout))
    }
}

/// The calls Handoff makes to etcd's v3 API: leases, keys and values, transactions fenced on a leader's key, and
/// campaigning and observing in etcd's own `Election` service (so no consensus is implemented here); an orderly
/// step-down revokes the lease, which ends the candidacy.
///
/// Every failure is an `EtcdError` naming the call.
public struct EtcdClient: Sendable {
    let kv: Etcdserverpb_KV.Client<HTTP2ClientTransport.Posix>
    let leases: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix>
    let elections: V3electionpb_Election.Client<HTTP2ClientTransport.Posix>
    let callTimeout: Duration

    init(client: GRPCClient<HTTP2ClientTransport.Posix>, callTimeout: Duration) {
        kv = Etcdserverpb_KV.Client(wrapping: client)
        leases = Etcdserverpb_Lease.Client(wrapping: client)
        elections = V3electionpb_Election.Client(wrapping: client)
        self.callTimeout = callTimeout
    }

    var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = callTimeout
        options.waitForReady = true
        return options
    }

    // MARK: Leases

    /// Grants a lease of about `ttlSeconds` (etcd may raise it: see `EtcdLease.ttlSeconds`).
    public func grantLease(ttlSeconds: Int64) async throws(EtcdError) -> EtcdLease {
        let response = try await call("LeaseGrant") {
            try await leases.leaseGrant(.with { $0.ttl = ttlSeconds }, options: options)
        }
        guard response.error.isEmpty, response.id != 0, response.ttl > 0 else {
            throw .callFailed(
                call: "LeaseGrant", message: response.error.isEmpty ? "no lease id or TTL" : response.error)
        }
        return EtcdLease(id: response.id, ttlSeconds: response.ttl)
    }

    /// Revokes a lease: its keys are deleted now. A lease that is already gone is not an error.
    ///
    /// - Parameter timeout: the call's deadline, when shorter than the client's (a best-effort revoke while etcd
    ///   may be unreachable).
    public func revokeLease(_ id: Int64, timeout: Duration? = nil) async throws(EtcdError) {
        var options = self.options
        if let timeout { options.timeout = min(timeout, callTimeout) }
        do {
            _ = try await leases.leaseRevoke(.with { $0.id = id }, options: options)
        } catch let error as RPCError where error.code == .notFound {
            return
        } catch {
            throw .callFailed(call: "LeaseRevoke", message: Self.describe(error))
        }
    }

    /// Keeps leases alive over one `LeaseKeepAlive` stream until the stream fails or the task is cancelled:
    /// renews each lease that `renewals` yields, and reports etcd's answer (the remaining TTL in seconds, 0 when the
    /// lease no longer exists) to `answered`. `EtcdLeaseKeeper` reopens the stream after a failure.
    public func keepLeasesAlive(
        _ renewals: BatchingOutbox<Int64>,
        answered: @escaping @Sendable (_ lease: Int64, _ ttlSeconds: Int64) -> Void
    ) async throws(EtcdError) {
        let request = StreamingClientRequest(of: Etcdserverpb_LeaseKeepAliveRequest.self) { writer in
            while let batch = await renewals.nextBatch() {
                try await writer.write(contentsOf: batch.map { id in .with { $0.id = id } })
            }
        }
        var options = CallOptions.defaults
        options.waitForReady = true
        _ = try await call("LeaseKeepAlive") {
            try await leases.leaseKeepAlive(request: request, options: options) { response in
                for try await answer in response.messages { answered(answer.id, answer.ttl) }
            }
        }
    }

    // MARK: Keys

    /// Every key under `prefix` with its value, in key order.
    public func range(prefix: String) async throws(EtcdError) -> [EtcdKeyValue] {
        let response = try await call("Range") {
            try await kv.range(
                .with {
                    $0.key = Data(prefix.utf8)
                    $0.rangeEnd = Self.end(ofPrefix: Data(prefix.utf8))
                }, options: options)
        }
        return response.kvs.map(EtcdKeyValue.init)
    }

    /// The value of `key`, if it exists.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        let response = try await call("Range") {
            try await kv.range(.with { $0.key = Data(key.utf8) }, options: options)
        }
        return response.kvs.first.map(EtcdKeyValue.init)
    }

    /// Writes `key` (attached to `lease` unless it is 0) only while `leadership` is held; returns whether it was
    /// written. A deposed leader's writes fail this way rather than overwrite its successor's.
    public func put(
        _ key: String, value: Data, lease: Int64 = 0, ifHolding leadership: EtcdLeadership
    ) async throws(EtcdError) -> Bool {
        try await transaction(
            "Txn(put)", ifHolding: leadership,
            .with {
                $0.requestPut = .with {
                    $0.key = Data(key.utf8)
                    $0.value = value
                    $0.lease = lease
                }
            })
    }

    /// Deletes `key` only while `leadership` is held; returns whether the transaction ran.
    public func delete(_ key: String, ifHolding leadership: EtcdLeadership) async throws(EtcdError) -> Bool {
        try await transaction(
            "Txn(delete)", ifHolding: leadership, .with { $0.requestDeleteRange = .with { $0.key = Data(key.utf8) } })
    }

    private func transaction(
        _ name: String, ifHolding leadership: EtcdLeadership, _ operation: Etcdserverpb_RequestOp
    ) async throws(EtcdError) -> Bool {
        let response = try await call(name) {
            try await kv.txn(
                .with {
                    $0.compare = [
                        .with {
                            $0.result = .equal
                            $0.target = .create
                            $0.key = leadership.key
                            $0.createRevision = leadership.createRevision
                        }
                    ]
                    $0.success = [operation]
                }, options: options)
        }
        return response.succeeded
    }

    // MARK: Election

    /// Campaigns in `election` with `value` (what followers read as the leader's), the candidacy bound to `lease`;
    /// returns once this candidate leads, which may be much later. Cancel the task to give up.
    public func campaign(_ election: String, lease: Int64, value: Data) async throws(EtcdError) -> EtcdLeadership {
        var options = CallOptions.defaults
        options.waitForReady = true
        let response = try await call("Campaign") {
            try await elections.campaign(
                .with {
                    $0.name = Data(election.utf8)
                    $0.lease = lease
                    $0.value = value
                }, options: options)
        }
        guard response.hasLeader else { throw .unexpectedAnswer("Campaign returned no leader key") }
        return EtcdLeadership(
            election: election, key: response.leader.key, createRevision: response.leader.rev,
            lease: response.leader.lease)
    }

    /// Calls `changed` with each leader's value in `election` as leaders come and go, until the stream ends or
    /// fails or the task is cancelled.
    public func observe(_ election: String, changed: @escaping @Sendable (Data) -> Void) async throws(EtcdError) {
        var options = CallOptions.defaults
        options.waitForReady = true
        _ = try await call("Observe") {
            try await elections.observe(.with { $0.name = Data(election.utf8) }, options: options) { response in
                for try await answer in response.messages where answer.hasKv { changed(answer.kv.value) }
            }
        }
    }

    // MARK: Support

    private func call<Response: Sendable>(
        _ name: String, _ body: () async throws -> Response
    ) async throws(EtcdError) -> Response {
        do {
            return try await body()
        } catch {
            throw .callFailed(call: name, message: Self.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }

    /// The smallest key greater than every key that starts with `prefix` (etcd's `range_end` for a prefix).
    static func end(ofPrefix prefix: Data) -> Data {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.index(before: end.endIndex)] = last + 1
                return end
            }
            end.removeLast()
        }
        return Data([0])
    }
}

extension EtcdKeyValue {
    init(_ kv: Mvccpb_KeyValue) {
        self.init(
            key: String(decoding: kv.key, as: UTF8.self), value: kv.value, lease: kv.lease,
            createRevision: kv.createRevision)
    }
}
