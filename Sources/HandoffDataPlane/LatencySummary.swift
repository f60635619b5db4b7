import Histogram

/// Percentiles of per-op latency, in microseconds.
public struct LatencySummary: Sendable, Hashable, Codable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }

    /// An empty histogram of per-op nanoseconds, up to a minute, for `init(nanoseconds:)`.
    public static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .two)
    }

    /// Reads the percentiles from a histogram of nanoseconds.
    public init(nanoseconds histogram: Histogram<UInt64>) {
        func micros(_ value: UInt64) -> Double { Double(value) / 1_000 }
        self.init(
            p50: micros(histogram.valueAtPercentile(50)), p90: micros(histogram.valueAtPercentile(90)),
            p99: micros(histogram.valueAtPercentile(99)), p999: micros(histogram.valueAtPercentile(99.9)),
            max: micros(histogram.max))
    }
}
