import Foundation
import HandoffCore
import Testing

@testable import HandoffRouter

/// The router's JSON reader against Foundation's parser: the same texts accepted and refused, and the members and
/// elements it finds are the values Foundation decodes.
@Suite struct JSONDocumentTests {
    /// A random JSON value of at most `depth` levels, as Foundation objects.
    private static func value(_ random: inout SplitMix64, depth: Int) -> Any {
        switch Int.random(in: 0..<(depth > 0 ? 9 : 6), using: &random) {
        case 0: return NSNull()
        case 1: return Bool.random(using: &random)
        case 2: return Int.random(in: -1_000_000...1_000_000, using: &random)
        case 3: return Double.random(in: -1e6...1e6, using: &random)
        case 4, 5:
            let alphabet = Array("ab \"\\/\n\t\u{01}é😀{}[],:")
            return String(
                (0..<Int.random(in: 0..<8, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
        case 6, 7:
            var object: [String: Any] = [:]
            for index in 0..<Int.random(in: 0..<5, using: &random) {
                object["k\(index)\(value(&random, depth: 0))"] = value(&random, depth: depth - 1)
            }
            return object
        default: return (0..<Int.random(in: 0..<5, using: &random)).map { _ in value(&random, depth: depth - 1) }
        }
    }

    @Test func textsFoundationWritesAreReadMemberByMember() throws {
        var random = SplitMix64(seed: 29)
        for _ in 0..<500 {
            var object: [String: Any] = [:]
            for index in 0..<Int.random(in: 0..<6, using: &random) {
                object["m\(index)"] = Self.value(&random, depth: 3)
            }
            let bytes = Array(try JSONSerialization.data(withJSONObject: object, options: .prettyPrinted))
            let document = try JSONDocument(validating: bytes)
            let members = document.members(ofObject: document.root)
            #expect(Set(members.map(\.key)) == Set(object.keys))
            for member in members {
                let decoded = try JSONSerialization.jsonObject(
                    with: Data(document.bytes[member.value]), options: .fragmentsAllowed)
                #expect(
                    try JSONSerialization.data(withJSONObject: [decoded], options: .sortedKeys)
                        == JSONSerialization.data(withJSONObject: [object[member.key]!], options: .sortedKeys))
                if let array = object[member.key] as? [Any] {
                    #expect(document.elements(ofArray: member.value).count == array.count)
                }
                if let string = object[member.key] as? String { #expect(document.string(at: member.value) == string) }
            }
        }
    }

    /// One byte inserted, deleted or replaced by a JSON-significant one: accepted exactly when Foundation accepts.
    @Test func mutatedTextsAreRefusedExactlyWhenFoundationRefusesThem() throws {
        var random = SplitMix64(seed: 7)
        let significant = Array(#"{}[],:"\0-.eE+ tfnu"#.utf8)
        var refused = 0
        for _ in 0..<3000 {
            let object = ["a": Self.value(&random, depth: 3), "b": Self.value(&random, depth: 2)]
            var bytes = Array(try JSONSerialization.data(withJSONObject: object))
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: bytes.insert(significant.randomElement(using: &random)!, at: at)
            case 1: bytes.remove(at: at)
            default: bytes[at] = significant.randomElement(using: &random)!
            }
            let text = String(decoding: bytes, as: UTF8.self)
            var expected = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            // Where Foundation departs from RFC 8259 and from Python's json, which the engines run: it takes
            // trailing commas, and refuses numbers beyond a Double's range (Python reads them as infinity).
            let outsideStrings = text.replacing(/"(?:[^"\\]|\\.)*"/, with: "\"\"")
            if outsideStrings.contains(/,\s*[}\]]/) {
                expected = false
            } else if !expected, outsideStrings.contains(/[eE][+-]?[0-9]{3,}/) {
                continue
            }
            let ours = (try? JSONDocument(validating: bytes)) != nil
            #expect(ours == expected, "\(text)")
            if !ours { refused += 1 }
        }
        #expect(refused > 1000)
    }

    @Test func tokenIDsAreReadOnlyFromPlainNonNegativeIntegers() throws {
        func ids(_ json: String) throws -> [Int]? {
            let document = try JSONDocument(validating: Array(json.utf8))
            return document.nonNegativeIntegers(ofArray: document.root)
        }
        #expect(try ids("[ 0 , 7,31999 ]") == [0, 7, 31999])
        #expect(try ids("[]") == [])
        for refused in ["[-1]", "[1.0]", "[1e3]", "[\"1\"]", "[1, [2]]", "[99999999999999999999]", "{}"] {
            #expect(try ids(refused) == nil, "\(refused)")
        }
    }
}
