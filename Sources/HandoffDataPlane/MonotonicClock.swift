import Glibc

/// Nanoseconds on the monotonic clock: cheap enough to read twice per op.
public enum MonotonicClock {
    /// The current time, nanoseconds since an arbitrary start (CLOCK_MONOTONIC).
    @inlinable
    public static func nanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
