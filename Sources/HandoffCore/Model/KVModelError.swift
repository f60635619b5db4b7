/// Errors in describing a KV cache: presets and geometries.
public enum KVModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No built-in preset has this name.
    case unknownPreset(String, known: [String])
    /// A dimension of a geometry or layout is out of range.
    case invalidGeometry(String)

    public var description: String {
        switch self {
        case .unknownPreset(let name, let known):
            "unknown model preset '\(name)'; known presets: \(known.joined(separator: ", "))"
        case .invalidGeometry(let reason):
            "invalid KV geometry: \(reason)"
        }
    }
}
