import ArgumentParser

/// The values one benchmark option takes in a sweep: one value, a comma-separated list (`read,write`, `1,4,16`),
/// or for counts and sizes a doubling range (`4..65536`: 4, 8, 16, …, 65536).
struct SweepList<Value: ExpressibleByArgument & Equatable & Sendable>: ExpressibleByArgument, Sendable {
    var values: [Value]

    init(_ values: Value...) { self.values = values }

    init?(argument: String) {
        var values: [Value] = []
        for item in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let text = item.trimmingCharacters(in: .whitespaces)
            if text.contains("..") {
                guard let range = Self.doubling(text) else { return nil }
                values += range
            } else {
                guard let value = Value(argument: text) else { return nil }
                values.append(value)
            }
        }
        guard !values.isEmpty else { return nil }
        self.values = values
    }

    /// `low..high` as low, 2·low, 4·low, … up to high; nil unless both ends are positive integers, low ≤ high,
    /// and `Value` is `Int`.
    private static func doubling(_ text: String) -> [Value]? {
        let ends = text.split(separator: "..", omittingEmptySubsequences: false)
        guard Value.self == Int.self, ends.count == 2, let low = Int(ends[0]), let high = Int(ends[1]), low > 0,
            low <= high
        else {
            return nil
        }
        return sequence(first: low) { $0 <= high / 2 ? $0 * 2 : nil }.compactMap { $0 as? Value }
    }

    var defaultValueDescription: String { values.map { "\($0)" }.joined(separator: ",") }

    static var allValueStrings: [String] { Value.allValueStrings }
}

extension Array where Element: Equatable {
    /// The elements in order, each only once.
    var uniqued: [Element] {
        reduce(into: []) { kept, element in if !kept.contains(element) { kept.append(element) } }
    }
}
