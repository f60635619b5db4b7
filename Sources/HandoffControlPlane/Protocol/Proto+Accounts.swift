import HandoffControlProtocol
import HandoffDataPlane
import HandoffProto

extension RequestAccount {
    public var proto: Handoff_V1_RequestAccount {
        var message = Handoff_V1_RequestAccount()
        message.requestID = requestID
        message.ticket = ticket
        message.state = state.rawValue
        message.failure = failure
        message.prefillWorker = prefill?.id ?? ""
        message.decodeWorker = decode?.id ?? ""
        message.promptTokens = UInt32(clamping: promptTokens)
        message.attempts = UInt32(clamping: attempts)
        if let parts = components {
            message.components = .with {
                $0.queue = Double(parts.queue) / 1e9
                $0.prefill = Double(parts.prefill) / 1e9
                $0.coordination = Double(parts.coordination) / 1e9
                $0.kvTransfer = Double(parts.kvTransfer) / 1e9
                $0.firstDecode = Double(parts.firstDecode) / 1e9
                $0.ttft = Double(parts.ttft) / 1e9
            }
        }
        if let transfer {
            message.kvBytes = UInt64(clamping: transfer.bytes)
            message.kvOps = UInt32(clamping: transfer.ops)
            message.kvDescriptors = UInt32(clamping: transfer.descriptors)
            message.transport = transfer.transport
            message.lowerTransports = transfer.lowerTransports
            message.fallback = transfer.fallback
            message.transferMode = transferMode.rawValue
        }
        message.verified = verified
        message.reserved = reserved
        return message
    }
}

extension Percentiles {
    public var proto: Handoff_V1_Percentiles {
        .with {
            $0.p50 = p50
            $0.p90 = p90
            $0.p99 = p99
        }
    }
}

extension CoordinatorAggregates {
    public var proto: Handoff_V1_Aggregates {
        .with {
            $0.admitted = UInt64(admitted)
            $0.done = UInt64(done)
            $0.failed = UInt64(failed)
            $0.expired = UInt64(expired)
            $0.recomputed = UInt64(recomputed)
            $0.components = components.mapValues(\.proto)
            $0.decisionSeconds = decisionSeconds.proto
            $0.kvBytes = UInt64(kvBytes)
            $0.transports = transports.mapValues { UInt64($0) }
        }
    }
}

extension WorkerStatus {
    public var proto: Handoff_V1_WorkerInfo {
        .with {
            $0.workerID = registration.identity.id
            $0.instance = registration.identity.instance
            $0.role = registration.role.proto
            $0.model = registration.layout.model
            $0.node = registration.node
            $0.rack = registration.rack
            $0.state = live ? "live" : "lost"
            $0.freeBlocks = UInt32(clamping: freeBlocks)
            $0.queueDepth = UInt32(clamping: queueDepth)
            $0.numBlocks = UInt32(clamping: registration.layout.numBlocks)
            $0.compatibility = registration.compatibility
            $0.transports = registration.transports
            $0.secondsSinceHeartbeat = secondsSinceHeartbeat
            $0.lostReason = lostReason
            $0.lostGracefully = lostGracefully
            $0.endpoint = registration.endpoint
            // Validated at registration; a descriptor that still fails to decode lists no offers.
            if let descriptor = try? PoolDescriptor(decoding: registration.descriptor) {
                $0.offers = ((try? descriptor.offers()) ?? []).map { offer in
                    .with {
                        $0.transport = offer.transport
                        $0.endpoints = offer.endpoints
                    }
                }
                $0.memoryType = descriptor.memoryType.rawValue
                $0.hostIdentity = descriptor.host
            }
        }
    }
}
