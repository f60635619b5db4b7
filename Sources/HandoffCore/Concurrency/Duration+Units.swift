extension Duration {
    /// The duration in whole nanoseconds, 0 for a negative one, saturating at `UInt64.max / 2` so that adding it
    /// to a clock reading cannot overflow.
    package var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(clamping: seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return UInt64.max / 2 }
        return min(whole &+ UInt64(attoseconds / 1_000_000_000), UInt64.max / 2)
    }

    /// The duration in seconds.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
