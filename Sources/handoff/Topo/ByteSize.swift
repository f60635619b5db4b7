import ArgumentParser

/// A byte count on the command line: `68719476736`, `64GiB`, `512MiB`, `8KiB` (binary units; `G`, `M`, `K` alike).
struct ByteSize: ExpressibleByArgument, Sendable {
    var bytes: UInt64

    init?(argument: String) {
        let digits = argument.prefix { $0.isNumber }
        guard let value = UInt64(digits) else { return nil }
        let unit = argument.dropFirst(digits.count).lowercased()
        let shifts: [String: UInt64] = [
            "": 0, "k": 10, "kib": 10, "m": 20, "mib": 20, "g": 30, "gib": 30, "t": 40, "tib": 40,
        ]
        guard let shift = shifts[unit] else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { return nil }
        bytes = product
    }
}
