/// How a coordinator that does not lead its cluster refuses a call: gRPC status UNAVAILABLE whose trailing
/// metadata names the leader under `metadataKey` (`HOST:PORT`, empty while no leader is elected). Clients given
/// several coordinator addresses retry at the leader.
public enum LeaderRedirect {
    /// The trailing-metadata key that carries the leader's address.
    public static let metadataKey = "handoff-leader"
}
