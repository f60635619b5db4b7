/// The part the serving side of a two-host benchmark plays.
enum BenchRole: String, Codable {
    /// Holds the source blocks (the prefill side).
    case source
    /// Receives the blocks (the decode side).
    case destination
}
