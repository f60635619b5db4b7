/// The private anonymous mappings of this process, from /proc/self/maps.
struct PrivateAnonymousMappings {
    private var ranges: [(start: UInt, end: UInt)] = []

    static func current() throws(SharedMemoryError) -> PrivateAnonymousMappings {
        guard let text = readProcFile("/proc/self/maps") else { throw .refused("/proc/self/maps is unreadable") }
        var mappings = PrivateAnonymousMappings()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].count == 4 else { continue }
            let permissions = Array(fields[1])
            let path = fields.count > 5 ? String(fields[5]) : ""
            guard permissions[0] == "r", permissions[1] == "w", permissions[3] == "p", fields[4] == "0",
                path.isEmpty || path.hasPrefix("[anon:")  // not [heap]: small objects of every thread live there
            else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else {
                continue
            }
            if let last = mappings.ranges.last, last.end == start {
                mappings.ranges[mappings.ranges.count - 1].end = end
            } else {
                mappings.ranges.append((start, end))
            }
        }
        return mappings
    }

    /// Whether `start ..< end` lies inside one run of adjacent private anonymous mappings.
    func cover(_ start: UInt, _ end: UInt) -> Bool {
        ranges.contains { $0.start <= start && end <= $0.end }
    }
}
