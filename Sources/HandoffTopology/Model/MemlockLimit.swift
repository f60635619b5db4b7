/// The process's limit on locked memory (`ulimit -l`, RLIMIT_MEMLOCK). RDMA registration pins memory, so a
/// KV pool registered for RDMA must fit under it.
public struct MemlockLimit: Codable, Sendable, Equatable {
    /// The limit in force, in bytes; nil: unlimited.
    public var currentBytes: UInt64?
    /// The most the process may raise it to, in bytes; nil: unlimited.
    public var maximumBytes: UInt64?

    public init(currentBytes: UInt64?, maximumBytes: UInt64?) {
        self.currentBytes = currentBytes
        self.maximumBytes = maximumBytes
    }

    enum CodingKeys: String, CodingKey {
        case currentBytes = "current_bytes"
        case maximumBytes = "maximum_bytes"
    }
}
