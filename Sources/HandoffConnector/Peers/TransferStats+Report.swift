import HandoffControlProtocol
import HandoffDataPlane

extension TransferStats {
    /// What a worker reports of a transfer the data plane ran.
    init(_ report: TransferReport) {
        self.init(
            bytes: report.bytes, ops: report.ops, descriptors: report.pieces, transport: report.transport,
            lowerTransports: report.lowerTransports, postSeconds: report.postSeconds,
            completionSeconds: report.completionSeconds, fallback: report.fallback?.rawValue ?? "")
    }

    /// The statistics of several transfers that together made one, which took `wallSeconds` from the first start
    /// to the last completion: counts add up, the time is the wall time.
    static func combined(_ parts: [TransferStats], wallSeconds: Double) -> TransferStats? {
        guard let first = parts.first else { return nil }
        let post = parts.reduce(0) { $0 + $1.postSeconds }
        var lower: [String] = []
        for name in parts.flatMap(\.lowerTransports) where !lower.contains(name) { lower.append(name) }
        return TransferStats(
            bytes: parts.reduce(0) { $0 + $1.bytes }, ops: parts.reduce(0) { $0 + $1.ops },
            descriptors: parts.reduce(0) { $0 + $1.descriptors }, transport: first.transport, lowerTransports: lower,
            postSeconds: min(post, wallSeconds), completionSeconds: max(0, wallSeconds - post),
            fallback: parts.first(where: { !$0.fallback.isEmpty })?.fallback ?? "")
    }
}
