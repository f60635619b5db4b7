import Foundation

/// The first line `handoff bench run` sends `handoff bench serve`: the protocol version, the role the serving
/// side plays and the workload options both sides use, so that they always agree on the parameters.
struct BenchHello: Codable {
    static let currentVersion = 1

    var version = BenchHello.currentVersion
    var role: BenchRole
    /// `WorkloadOptions.arguments` of the initiator.
    var arguments: [String]

    /// One line of JSON.
    func encoded() throws -> String {
        String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
    }

    /// - Throws: `BenchError.invalidOption` for malformed JSON or another protocol version.
    static func decode(_ text: String) throws -> BenchHello {
        let hello: BenchHello
        do {
            hello = try JSONDecoder().decode(BenchHello.self, from: Data(text.utf8))
        } catch {
            throw BenchError.invalidOption("malformed hello: \(error)")
        }
        guard hello.version == currentVersion else {
            throw BenchError.invalidOption(
                "the initiator speaks bench protocol \(hello.version), this server \(currentVersion); run the same handoff version on both hosts"
            )
        }
        return hello
    }
}
