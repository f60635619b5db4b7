import HandoffProto

/// How a request's KV moves from prefill to decode.
public enum TransferMode: String, Sendable, Hashable, CaseIterable {
    /// Decode pulls the blocks once prefill is done (the default, as vLLM's NixlConnector does).
    case pull
    /// Decode reserves its blocks at admission and prefill writes the KV into them layer by layer while it
    /// computes, so that only the last layer's transfer remains on the time to first token. A prefill worker that
    /// cannot push (it started before the target came, or it does not push) falls back to a pull.
    case push
}

extension TransferMode {
    public var proto: Handoff_V1_TransferMode { self == .push ? .push : .pull }
}
