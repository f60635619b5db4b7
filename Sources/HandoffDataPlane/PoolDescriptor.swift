import HandoffCore

/// What a peer needs to reach a registered pool: the transport's address, the pool's layout and, per region, its
/// address, length and packed remote key. It is serializable and versioned; decoding checks every length.
public struct PoolDescriptor: Sendable, Hashable {
    /// The format version this build writes and reads.
    public static let formatVersion: UInt16 = 1
    static let magic: UInt32 = 0x4846_4450  // "PDFH" little-endian: Handoff Pool Descriptor
    static let maxAddressBytes = 1 << 16
    static let maxKeyBytes = 1 << 12
    static let maxRegions = 1 << 16
    static let maxNameBytes = 256

    /// One registered region as the peer sees it.
    public struct Region: Sendable, Hashable {
        /// The region's address in the owner's address space.
        public var address: UInt64
        /// The region's length in bytes.
        public var length: UInt64
        /// The transport's remote key for the region (UCX: `ucp_rkey_pack` output).
        public var remoteKey: [UInt8]

        public init(address: UInt64, length: UInt64, remoteKey: [UInt8]) {
            self.address = address
            self.length = length
            self.remoteKey = remoteKey
        }
    }

    /// The transport that registered the pool (`ucx`).
    public var transport: String
    /// The owning transport instance, unique per process start: a restarted worker has a new one.
    public var agent: UInt64
    /// The owner's `HostIdentity`: a peer on the same host may use shared memory.
    public var host: String
    /// The owner's transport address (UCX: its packed worker address).
    public var transportAddress: [UInt8]
    /// Where the pool's memory lives.
    public var memoryType: MemoryType
    /// How the pool arranges its blocks; plans are built against it.
    public var layout: KVLayout
    /// One entry per layout region, in order.
    public var regions: [Region]

    public init(
        transport: String, agent: UInt64, host: String, transportAddress: [UInt8], memoryType: MemoryType,
        layout: KVLayout, regions: [Region]
    ) {
        self.transport = transport
        self.agent = agent
        self.host = host
        self.transportAddress = transportAddress
        self.memoryType = memoryType
        self.layout = layout
        self.regions = regions
    }

    /// The descriptor in its binary wire form.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 128 + transportAddress.count + regions.count * 64)
        writer.write(Self.magic)
        writer.write(Self.formatVersion)
        writer.writeString(transport)
        writer.write(agent)
        writer.writeString(host)
        writer.writeLengthPrefixed(transportAddress)
        writer.write(memoryType.wireValue)
        writer.write(UInt32(layout.geometry.layers))
        writer.write(UInt8(layout.geometry.kindsPerBlock))
        writer.write(UInt64(layout.geometry.pieceBytes))
        writer.write(UInt64(layout.numBlocks))
        writer.write(UInt8(layout.arrangement == .split ? 0 : 1))
        writer.write(UInt32(regions.count))
        for region in regions {
            writer.write(region.address)
            writer.write(region.length)
            writer.writeLengthPrefixed(region.remoteKey)
        }
        return writer.bytes
    }

    /// The descriptor as one line of base64 text, for pipes, logs and command lines.
    public func encodedText() -> String { Base64.encode(encoded()) }

    /// Decodes a descriptor from its wire form.
    /// - Throws: `DataPlaneError.invalidDescriptor` for truncated, corrupted, oversized or other-version input.
    public init(decoding bytes: [UInt8]) throws(DataPlaneError) {
        do {
            self = try Self.decode(bytes)
        } catch {
            throw .invalidDescriptor(error)
        }
    }

    /// Decodes a descriptor from its base64 text form.
    /// - Throws: `DataPlaneError.invalidDescriptor` when the text is not base64 or the bytes do not decode.
    public init(decodingText text: String) throws(DataPlaneError) {
        guard let bytes = Base64.decode(text) else { throw .invalidDescriptor(.notBase64) }
        try self.init(decoding: bytes)
    }

    private static func decode(_ bytes: [UInt8]) throws(WireFormatError) -> PoolDescriptor {
        var reader = ByteReader(bytes)
        let magic = try reader.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw .badMagic(expected: Self.magic, found: magic) }
        let version = try reader.read(UInt16.self, "version")
        guard version == Self.formatVersion else {
            throw .unsupportedVersion(found: version, supported: Self.formatVersion)
        }
        let transport = try reader.readString("transport", limit: Self.maxNameBytes)
        let agent = try reader.read(UInt64.self, "agent")
        let host = try reader.readString("host", limit: Self.maxNameBytes)
        let address = try reader.readLengthPrefixed("transport address", limit: Self.maxAddressBytes)
        let memoryTypeValue = try reader.read(UInt8.self, "memory type")
        guard let memoryType = MemoryType(wireValue: memoryTypeValue) else {
            throw .invalidValue(field: "memory type", reason: "unknown value \(memoryTypeValue)")
        }
        let layout = try decodeLayout(&reader)
        let regionCount = Int(try reader.read(UInt32.self, "region count"))
        guard regionCount == layout.regionCount else {
            throw .invalidValue(
                field: "region count", reason: "\(regionCount) regions for a layout of \(layout.regionCount)")
        }
        var regions: [Region] = []
        regions.reserveCapacity(regionCount)
        for index in 0..<regionCount {
            let regionAddress = try reader.read(UInt64.self, "region \(index) address")
            let length = try reader.read(UInt64.self, "region \(index) length")
            guard length >= UInt64(layout.regionBytes) else {
                throw .invalidValue(
                    field: "region \(index) length", reason: "\(length) bytes, the layout needs \(layout.regionBytes)")
            }
            guard regionAddress.addingReportingOverflow(length).overflow == false else {
                throw .invalidValue(field: "region \(index) address", reason: "address plus length overflows")
            }
            let key = try reader.readLengthPrefixed("region \(index) remote key", limit: Self.maxKeyBytes)
            regions.append(Region(address: regionAddress, length: length, remoteKey: key))
        }
        try reader.expectEnd()
        return PoolDescriptor(
            transport: transport, agent: agent, host: host, transportAddress: address, memoryType: memoryType,
            layout: layout,
            regions: regions)
    }

    private static func decodeLayout(_ reader: inout ByteReader) throws(WireFormatError) -> KVLayout {
        let layers = try reader.read(UInt32.self, "layers")
        let kinds = try reader.read(UInt8.self, "kinds per block")
        let pieceBytes = try reader.read(UInt64.self, "piece bytes")
        let numBlocks = try reader.read(UInt64.self, "block count")
        let arrangementValue = try reader.read(UInt8.self, "arrangement")
        guard layers <= UInt32(Self.maxRegions), pieceBytes <= 1 << 40, numBlocks <= 1 << 32 else {
            throw .invalidValue(field: "layout", reason: "dimensions out of range")
        }
        guard arrangementValue <= 1 else {
            throw .invalidValue(field: "arrangement", reason: "unknown value \(arrangementValue)")
        }
        let (pieces, piecesOverflow) = UInt64(kinds).multipliedReportingOverflow(by: numBlocks)
        let (regionBytes, bytesOverflow) = pieces.multipliedReportingOverflow(by: pieceBytes)
        let (poolBytes, poolOverflow) = UInt64(layers).multipliedReportingOverflow(by: regionBytes)
        guard !piecesOverflow, !bytesOverflow, !poolOverflow, regionBytes <= 1 << 48, poolBytes <= 1 << 56 else {
            throw .invalidValue(field: "layout", reason: "a pool of that layout would exceed 2^56 bytes")
        }
        let geometry = KVGeometry(layers: Int(layers), kindsPerBlock: Int(kinds), pieceBytes: Int(pieceBytes))
        do {
            return try KVLayout(
                geometry: geometry, numBlocks: Int(numBlocks), arrangement: arrangementValue == 0 ? .split : .fused)
        } catch {
            throw .invalidValue(field: "layout", reason: error.description)
        }
    }
}
