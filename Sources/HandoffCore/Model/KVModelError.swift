/// Errors in describing a KV cache: presets and geometries.
public enum KVModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No built-in preset has this name.
    case unknownPreset(String, known: [String])
    /// A dimension of a geometry or layout is out of range.
    case invalidGeometry(String)

    public var description: String {
        switch self {
        case let .unknownPreset(name, known):
            "unknown model preset '\(name)'; known presets: \(known.joined(separator: ", "))"
        case let .invalidGeometry(reason):
            "invalid KV geometry: \(reason)"
        }
    }
}
