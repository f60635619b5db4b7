/// The direction of a transfer, seen from the side that executes the plan.
public enum TransferOperation: String, Sendable, Hashable, Codable, CaseIterable {
    /// The caller holds the destination and pulls from the peer's source (decode pulls; vLLM's and llm-d's default).
    case read
    /// The caller holds the source and pushes into the peer's destination (prefill pushes).
    case write
}
