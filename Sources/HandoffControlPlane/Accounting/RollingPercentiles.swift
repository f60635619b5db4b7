import HandoffControlProtocol

/// Percentiles over the last `capacity` values recorded (a ring buffer; sorted only when asked).
public struct RollingPercentiles: Sendable {
    public let capacity: Int
    private var values: [Double] = []
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        values.reserveCapacity(capacity)
    }

    public mutating func record(_ value: Double) {
        if values.count < capacity {
            values.append(value)
        } else {
            values[next] = value
            next = (next + 1) % capacity
        }
    }

    public var count: Int { values.count }

    /// The p50, p90 and p99 of the window (nearest rank); zeros when empty.
    public func summary() -> Percentiles {
        guard !values.isEmpty else { return Percentiles(p50: 0, p90: 0, p99: 0) }
        return Percentiles(sorted: values.sorted())
    }
}

/// p50, p90 and p99 of some quantity, in its own unit.
public struct Percentiles: Sendable, Hashable, Codable {
    public var p50: Double
    public var p90: Double
    public var p99: Double

    public init(p50: Double, p90: Double, p99: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
    }

    /// Nearest-rank percentiles of ascending `sorted` values; zeros when empty.
    public init(sorted: [Double]) {
        self.init(
            p50: Self.nearestRank(sorted, 0.5), p90: Self.nearestRank(sorted, 0.9), p99: Self.nearestRank(sorted, 0.99))
    }

    /// The nearest-rank `quantile` (0...1) of ascending `sorted` values; 0 when empty.
    public static func nearestRank(_ sorted: [Double], _ quantile: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(index, 0), sorted.count - 1)]
    }
}
