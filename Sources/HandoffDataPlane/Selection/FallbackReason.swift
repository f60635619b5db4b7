/// Why `AutoTransport` moved a peer's or a transfer's bytes over native TCP instead of UCX.
public enum FallbackReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The peer's descriptor offers no UCX.
    case peerWithoutUCX = "peer_without_ucx"
    /// UCX could not start on this side.
    case ucxUnavailable = "ucx_unavailable"
    /// Both sides offer UCX but the endpoint did not come up.
    case ucxEndpoint = "ucx_endpoint"
    /// A UCX transfer failed; it was run again over TCP, and the peer stays on TCP.
    case ucxTransfer = "ucx_transfer"
}
