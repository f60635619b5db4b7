import HandoffCore

/// The sub-descriptors an auto descriptor offers, each length-prefixed.
package enum AutoOffers {
    package static func encode(_ offers: [PoolDescriptor]) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(UInt8(offers.count))
        for offer in offers { writer.writeLengthPrefixed(offer.encoded()) }
        return writer.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DataPlaneError) -> [PoolDescriptor] {
        do {
            var reader = ByteReader(bytes)
            let count = Int(try reader.read(UInt8.self, "offer count"))
            guard count <= 4 else {
                throw WireFormatError.lengthTooLarge(field: "offer count", length: count, limit: 4)
            }
            var offers: [PoolDescriptor] = []
            for _ in 0..<count {
                offers.append(try PoolDescriptor(decoding: try reader.readLengthPrefixed("offer", limit: 1 << 20)))
            }
            try reader.expectEnd()
            return offers
        } catch let error as WireFormatError {
            throw .invalidDescriptor(error)
        } catch let error as DataPlaneError {
            throw error
        } catch {
            throw .incompatibleDescriptor("\(error)")
        }
    }
}
