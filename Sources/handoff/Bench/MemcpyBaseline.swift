import Glibc
import HandoffCore

/// memcpy of the benchmark's byte count between two buffers of this process: the rate the data plane is
/// compared with, measured in the same run.
struct MemcpyBaseline {
    /// Median seconds of `iterations` copies of `bytes` bytes; both buffers are written first, so no copy faults pages in.
    static func medianSeconds(bytes: Int, iterations: Int) -> Double {
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        memset(source, 0x5A, bytes)
        memset(destination, 0, bytes)
        var samples: [Double] = []
        for _ in 0..<iterations {
            let start = ContinuousClock.now
            memcpy(destination, source, bytes)
            samples.append((ContinuousClock.now - start).seconds)
        }
        return samples.median
    }
}

extension Array where Element == Double {
    /// The middle value (the mean of the two middle values for an even count); 0 when empty.
    var median: Double {
        guard !isEmpty else { return 0 }
        let sorted = self.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
