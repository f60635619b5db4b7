import Foundation

/// A key and its value as etcd stores them.
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: Data
    /// The lease the key is attached to; 0 for none.
    public var lease: Int64
    /// The revision that created the key.
    public var createRevision: Int64

    public init(key: String, value: Data, lease: Int64, createRevision: Int64) {
        self.key = key
        self.value = value
        self.lease = lease
        self.createRevision = createRevision
    }
}

/// A lease granted by etcd: keys attached to it disappear when it is not renewed within its TTL.
public struct EtcdLease: Sendable, Hashable {
    public var id: Int64
    /// The TTL etcd granted, which may be longer than the one asked for: etcd raises it to 1.5 × its election
    /// timeout, rounded up (2 s with etcd's default settings).
    public var ttlSeconds: Int64

    public init(id: Int64, ttlSeconds: Int64) {
        self.id = id
        self.ttlSeconds = ttlSeconds
    }
}

/// Leadership won in an etcd election: the key that holds it, alive as long as its lease.
public struct EtcdLeadership: Sendable, Hashable {
    /// The election's name.
    public var election: String
    /// The leader's key (the election name, a slash and the lease id in hex).
    public var key: Data
    /// The revision that created the key: writes fenced on it fail once another candidate leads.
    public var createRevision: Int64
    public var lease: Int64

    public init(election: String, key: Data, createRevision: Int64, lease: Int64) {
        self.election = election
        self.key = key
        self.createRevision = createRevision
        self.lease = lease
    }
}
