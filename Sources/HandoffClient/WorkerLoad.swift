/// What a worker reports in each heartbeat.
public struct WorkerLoad: Sendable, Hashable {
    public var freeBlocks: Int
    public var queueDepth: Int

    public init(freeBlocks: Int, queueDepth: Int) {
        self.freeBlocks = freeBlocks
        self.queueDepth = queueDepth
    }
}
