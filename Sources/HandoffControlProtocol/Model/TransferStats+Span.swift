import Tracing

extension TransferStats {
    /// Sets the transfer's statistics as attributes of `span`: the coordinator's `handoff.kv_transfer` and a decode
    /// worker's `handoff.pull` carry the same names.
    public func record(on span: any Span) {
        span.attributes["handoff.kv.bytes"] = bytes
        span.attributes["handoff.kv.ops"] = ops
        span.attributes["handoff.kv.descriptors"] = descriptors
        span.attributes["handoff.kv.transport"] = transport
        span.attributes["handoff.kv.lanes"] = lowerTransports.joined(separator: "+")
        span.attributes["handoff.kv.fallback"] = fallback
        span.attributes["handoff.kv.post_seconds"] = postSeconds
        span.attributes["handoff.kv.completion_seconds"] = completionSeconds
    }
}
