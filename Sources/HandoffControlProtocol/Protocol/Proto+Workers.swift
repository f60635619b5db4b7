import HandoffCore
import HandoffProto

extension WorkerRole {
    /// - Throws: `ProtocolError` for an unspecified or unknown role.
    public init(proto: Handoff_V1_WorkerRole) throws(ProtocolError) {
        switch proto {
        case .prefill: self = .prefill
        case .decode: self = .decode
        default: throw ProtocolError("worker role must be prefill or decode")
        }
    }

    public var proto: Handoff_V1_WorkerRole { self == .prefill ? .prefill : .decode }
}

extension KVLayoutSpec {
    /// - Throws: `ProtocolError` for an unknown arrangement.
    public init(proto: Handoff_V1_KVLayoutSpec) throws(ProtocolError) {
        guard let arrangement = KVArrangement(rawValue: proto.arrangement) else {
            throw ProtocolError("arrangement must be split or fused, got \"\(proto.arrangement)\"")
        }
        self.init(
            model: proto.model, dtypeBytes: Int(proto.dtypeBytes), layers: Int(proto.layers),
            kindsPerBlock: Int(proto.kindsPerBlock), kvHeads: Int(proto.kvHeads), headDim: Int(proto.headDim),
            blockTokens: Int(proto.blockTokens), pieceBytes: Int(clamping: proto.pieceBytes), arrangement: arrangement,
            numBlocks: Int(proto.numBlocks))
    }

    public var proto: Handoff_V1_KVLayoutSpec {
        var message = Handoff_V1_KVLayoutSpec()
        message.model = model
        message.dtypeBytes = UInt32(clamping: dtypeBytes)
        message.layers = UInt32(clamping: layers)
        message.kindsPerBlock = UInt32(clamping: kindsPerBlock)
        message.kvHeads = UInt32(clamping: kvHeads)
        message.headDim = UInt32(clamping: headDim)
        message.blockTokens = UInt32(clamping: blockTokens)
        message.pieceBytes = UInt64(clamping: pieceBytes)
        message.arrangement = arrangement.rawValue
        message.numBlocks = UInt32(clamping: numBlocks)
        return message
    }
}

extension WorkerRegistration {
    /// The longest model name, node or rack label and compatibility hash a registration may carry, in bytes.
    package static let maxLabelBytes = 256
    /// The most transports a registration may name, each at most 32 bytes.
    package static let maxTransports = 8

    /// - Throws: `ProtocolError` for a missing layout, an unknown role or arrangement, an endpoint that is not an
    ///   http(s) URL of at most 512 bytes, or labels and lists longer than `maxLabelBytes` and `maxTransports`.
    public init(proto: Handoff_V1_Register) throws(ProtocolError) {
        guard proto.hasLayout else { throw ProtocolError("registration without a KV layout") }
        try Self.checkEndpoint(proto.endpoint)
        guard !proto.workerID.isEmpty else { throw ProtocolError("registration without a worker id") }
        for (name, value) in [
            ("worker id", proto.workerID), ("model", proto.layout.model), ("node", proto.node), ("rack", proto.rack),
            ("compatibility", proto.compatibility), ("arrangement", proto.layout.arrangement),
        ] {
            guard value.utf8.count <= Self.maxLabelBytes else {
                throw ProtocolError("\(name) must be at most \(Self.maxLabelBytes) bytes, got \(value.utf8.count)")
            }
            try Self.checkPrintable(name, value)
        }
        guard proto.transports.count <= Self.maxTransports, proto.transports.allSatisfy({ $0.utf8.count <= 32 }) else {
            throw ProtocolError("at most \(Self.maxTransports) transports of at most 32 bytes each")
        }
        for transport in proto.transports { try Self.checkPrintable("transport", transport) }
        self.init(
            identity: WorkerIdentity(id: proto.workerID, instance: proto.instance),
            role: try WorkerRole(proto: proto.role),
            layout: try KVLayoutSpec(proto: proto.layout), descriptor: Array(proto.descriptor), node: proto.node,
            rack: proto.rack, compatibility: proto.compatibility, transports: proto.transports, endpoint: proto.endpoint
        )
    }

    /// Labels are shown in terminals, logs and pages: none of `unprintableCategories`.
    package static func checkPrintable(_ name: String, _ value: String) throws(ProtocolError) {
        if let bad = value.unicodeScalars.first(where: { unprintableCategories.contains($0.properties.generalCategory) }
        ) {
            throw ProtocolError(
                "\(name) must not contain control, format or separator characters "
                    + "(found U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
    }

    /// What an id or label may not contain, since it ends up in terminals, logs and pages: controls (Cc: escapes,
    /// newlines), format characters (Cf: bidirectional overrides such as U+202E, zero-width joiners) and line and
    /// paragraph separators (Zl, Zp: U+2028, U+2029), which reorder, hide or split what a reader sees.
    static let unprintableCategories: Set<Unicode.GeneralCategory> = [
        .control, .format, .lineSeparator, .paragraphSeparator,
    ]

    /// An endpoint is empty or an http(s) URL of printable ASCII, at most 512 bytes.
    package static func checkEndpoint(_ endpoint: String) throws(ProtocolError) {
        guard !endpoint.isEmpty else { return }
        let bytes = endpoint.utf8
        guard bytes.count <= 512, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
            endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")
        else {
            throw ProtocolError("endpoint must be an http:// or https:// URL of at most 512 printable bytes")
        }
    }

    public var proto: Handoff_V1_Register {
        var message = Handoff_V1_Register()
        message.workerID = identity.id
        message.instance = identity.instance
        message.role = role.proto
        message.layout = layout.proto
        message.descriptor = .init(descriptor)
        message.node = node
        message.rack = rack
        message.compatibility = compatibility
        message.transports = transports
        message.endpoint = endpoint
        return message
    }
}

extension Duration {
    /// A duration from a wire value in seconds, refused unless finite and within [0, 1 day].
    package static func fromWire(seconds: Double, field: String) throws(ProtocolError) -> Duration {
        guard seconds.isFinite, seconds >= 0, seconds <= 86_400 else {
            throw ProtocolError("\(field) must be between 0 and 86400 seconds, got \(seconds)")
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }
}
