import HandoffControlProtocol
import HandoffProto

extension AdmitRequest {
    /// - Throws: `ProtocolError` for an unknown load-failure policy.
    public init(proto: Handoff_V1_AdmitRequest) throws(ProtocolError) {
        let policy: LoadFailurePolicy
        switch proto.loadFailurePolicy {
        case .fail: policy = .fail
        case .recompute: policy = .recompute
        case .UNRECOGNIZED(let value): throw ProtocolError("unknown load-failure policy \(value)")
        }
        let mode: TransferMode
        switch proto.transferMode {
        case .pull: mode = .pull
        case .push: mode = .push
        case .UNRECOGNIZED(let value): throw ProtocolError("unknown transfer mode \(value)")
        }
        self.init(
            requestID: proto.requestID, model: proto.model, promptTokens: Int(proto.promptTokens),
            loadFailurePolicy: policy, node: proto.node, rack: proto.rack, transferMode: mode,
            traceparent: proto.traceparent)
    }
}

extension Admission {
    /// The wire form of the coordinator's answer.
    public var proto: Handoff_V1_AdmitResponse {
        .with {
            $0.ticket = ticket
            $0.prefillWorker = prefill.id
            $0.decodeWorker = decode.id
            $0.blocks = UInt32(clamping: blocks)
            $0.decisionSeconds = decisionSeconds
            $0.prefillEndpoint = prefillEndpoint
            $0.decodeEndpoint = decodeEndpoint
        }
    }
}
