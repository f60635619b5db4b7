import HandoffProto

extension TransferStats {
    /// The longest transport or fallback name, and the most lower transports, a report may carry: accounts keep
    /// them, so they are bounded like every other string from the wire.
    package static let maxNameBytes = 64
    package static let maxLowerTransports = 8

    /// - Throws: `ProtocolError` for transport or fallback names over `maxNameBytes` or with control characters,
    ///   or more than `maxLowerTransports` lower transports.
    public init(proto: Handoff_V1_TransferStats) throws(ProtocolError) {
        guard proto.lowerTransports.count <= Self.maxLowerTransports else {
            throw ProtocolError("a transfer names at most \(Self.maxLowerTransports) lower transports")
        }
        for name in [proto.transport, proto.fallback] + proto.lowerTransports {
            guard name.utf8.count <= Self.maxNameBytes else {
                throw ProtocolError("a transport or fallback name is at most \(Self.maxNameBytes) bytes")
            }
            try WorkerRegistration.checkPrintable("a transport or fallback name", name)
        }
        self.init(
            bytes: Int(clamping: proto.bytes), ops: Int(proto.ops), descriptors: Int(proto.descriptors),
            transport: proto.transport, lowerTransports: proto.lowerTransports, postSeconds: proto.postSeconds,
            completionSeconds: proto.completionSeconds, fallback: proto.fallback)
    }

    public var proto: Handoff_V1_TransferStats {
        var message = Handoff_V1_TransferStats()
        message.bytes = UInt64(clamping: bytes)
        message.ops = UInt32(clamping: ops)
        message.descriptors = UInt32(clamping: descriptors)
        message.transport = transport
        message.lowerTransports = lowerTransports
        message.postSeconds = postSeconds
        message.completionSeconds = completionSeconds
        message.fallback = fallback
        return message
    }
}

extension ProgressEvent {
    /// The event and the ticket it is about.
    ///
    /// - Throws: `ProtocolError` for a report with no kind or no ticket.
    public static func from(
        proto: Handoff_V1_ProgressReport
    ) throws(ProtocolError) -> (ticket: String, event: ProgressEvent) {
        let result: (String, ProgressEvent)
        switch proto.kind {
        case .prefillStarted(let message): result = (message.ticket, .prefillStarted)
        case .prefillDone(let message):
            result = (
                message.ticket, .prefillDone(sourceBlocks: message.sourceBlocks.map(Int.init), grant: message.grant)
            )
        case .reserved(let message):
            result = (
                message.ticket,
                .reserved(
                    destinationBlocks: message.destinationBlocks.map(Int.init), cachedBlocks: Int(message.cachedBlocks),
                    grant: message.grant)
            )
        case .pushDone(let message):
            result = (
                message.ticket,
                .pushDone(try TransferStats(proto: message.stats), exposedSeconds: message.exposedSeconds)
            )
        case .transferDone(let message):
            result = (
                message.ticket,
                .transferDone(
                    try TransferStats(proto: message.stats), verified: message.verified && !message.unchecked,
                    checked: !message.unchecked)
            )
        case .transferFailed(let message):
            // A reason is kept in the account and logged: the first kilobyte says what happened.
            let reason = String(decoding: message.reason.utf8.prefix(Self.maxReasonBytes), as: UTF8.self)
            result = (message.ticket, .transferFailed(reason: reason))
        case .firstToken(let message): result = (message.ticket, .firstToken(decodeSeconds: message.decodeSeconds))
        case nil: throw ProtocolError("progress report without a kind")
        }
        if result.0.isEmpty || result.0.utf8.count > 256 {
            throw ProtocolError("a progress report's ticket must be 1 to 256 bytes")
        }
        return result
    }

    /// The longest failure reason kept from a report, in bytes.
    public static let maxReasonBytes = 1024

    /// The report message for `ticket`.
    public func proto(ticket: String) -> Handoff_V1_ProgressReport {
        var report = Handoff_V1_ProgressReport()
        switch self {
        case .prefillStarted:
            report.prefillStarted = .with { $0.ticket = ticket }
        case .prefillDone(let blocks, let grant):
            report.prefillDone = .with {
                $0.ticket = ticket
                $0.sourceBlocks = blocks.map { UInt32(clamping: $0) }
                $0.grant = grant
            }
        case .reserved(let blocks, let cachedBlocks, let grant):
            report.reserved = .with {
                $0.ticket = ticket
                $0.destinationBlocks = blocks.map { UInt32(clamping: $0) }
                $0.cachedBlocks = UInt32(clamping: cachedBlocks)
                $0.grant = grant
            }
        case .pushDone(let stats, let exposedSeconds):
            report.pushDone = .with {
                $0.ticket = ticket
                $0.stats = stats.proto
                $0.exposedSeconds = exposedSeconds
            }
        case .transferDone(let stats, let verified, let checked):
            report.transferDone = .with {
                $0.ticket = ticket
                $0.stats = stats.proto
                $0.verified = verified && checked
                $0.unchecked = !checked
            }
        case .transferFailed(let reason):
            report.transferFailed = .with {
                $0.ticket = ticket
                $0.reason = reason
            }
        case .firstToken(let seconds):
            report.firstToken = .with {
                $0.ticket = ticket
                $0.decodeSeconds = seconds
            }
        }
        return report
    }
}
