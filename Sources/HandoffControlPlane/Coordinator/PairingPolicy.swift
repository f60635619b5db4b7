import HandoffControlProtocol

/// Chooses the prefill and decode worker of a request. The coordinator calls it inside its actor, so it must be
/// fast and must not block.
public protocol PairingPolicy: Sendable {
    /// The pair to use, or nil when no compatible pair can take `demand`.
    func choose(
        _ demand: PairingDemand, prefill: [PairingCandidate], decode: [PairingCandidate]
    ) -> (
        prefill: PairingCandidate, decode: PairingCandidate
    )?
}
