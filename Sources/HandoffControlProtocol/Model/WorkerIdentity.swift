/// One process of a worker: its stable id and the random instance it drew at start.
///
/// A restarted worker keeps its id and registers with a new instance; everything tied to the old instance
/// (tickets, descriptors, remote keys) is void from then on.
public struct WorkerIdentity: Sendable, Hashable, CustomStringConvertible {
    public var id: String
    public var instance: UInt64

    public init(id: String, instance: UInt64) {
        self.id = id
        self.instance = instance
    }

    public var description: String { "\(id)#\(String(instance, radix: 16))" }
}
