/// A message from the wire that cannot be turned into the model (missing field, unknown enum value, bad number).
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
