/// Why a request body is not the JSON text the router forwards.
struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// The byte offset where the text stopped being JSON.
    let offset: Int
    let reason: String

    var description: String { "\(reason) at byte \(offset)" }
}

/// Checks that bytes are one JSON text (RFC 8259, UTF-8) in a single pass without building any value and without
/// recursion: nesting is counted, up to `maxDepth`, so that no body can exhaust the stack or the heap the way a
/// tree of boxed values does (a 16 MiB body of token ids took 340 MiB as Foundation objects).
struct JSONValidator {
    /// Objects and arrays nested deeper are refused (Foundation's and Python's parsers stop near here too).
    static let maxDepth = 512

    private enum Expect { case value, valueOrClose, keyOrClose, key, colon, commaOrClose }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// The open containers, innermost last: true for an object.
    private var open: [Bool] = []

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// - Throws: `JSONSyntaxError` naming the first byte that is not JSON.
    static func validate(_ bytes: [UInt8]) throws(JSONSyntaxError) {
        let result: Result<Void, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            var validator = JSONValidator(buffer)
            do throws(JSONSyntaxError) {
                try validator.run()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw JSONSyntaxError(offset: 0, reason: "the text is not UTF-8")
        }
    }

    private mutating func run() throws(JSONSyntaxError) {
        var expect = Expect.value
        while true {
            skipWhitespace()
            guard index < bytes.count else {
                guard open.isEmpty, expect == .commaOrClose else { throw fail("the text ends early") }
                return
            }
            let byte = bytes[index]
            switch expect {
            case .value, .valueOrClose:
                if expect == .valueOrClose, byte == UInt8(ascii: "]") {
                    expect = closeContainer()
                } else {
                    expect = try value(startingWith: byte)
                }
            case .keyOrClose, .key:
                if expect == .keyOrClose, byte == UInt8(ascii: "}") {
                    expect = closeContainer()
                } else {
                    guard byte == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    try string()
                    expect = .colon
                }
            case .colon:
                guard byte == UInt8(ascii: ":") else { throw fail("expected ':'") }
                index += 1
                expect = .value
            case .commaOrClose:
                guard let object = open.last else { throw fail("text after the value") }
                if byte == UInt8(ascii: ",") {
                    index += 1
                    expect = object ? .key : .value
                } else if byte == (object ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    expect = closeContainer()
                } else {
                    throw fail(object ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
        }
    }

    /// Consumes the closing bracket of the innermost container.
    private mutating func closeContainer() -> Expect {
        index += 1
        open.removeLast()
        return .commaOrClose
    }

    /// Reads a value that starts with `byte`: a scalar whole, a container's opening bracket.
    private mutating func value(startingWith byte: UInt8) throws(JSONSyntaxError) -> Expect {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard open.count < Self.maxDepth else { throw fail("more than \(Self.maxDepth) nested levels") }
            open.append(byte == UInt8(ascii: "{"))
            index += 1
            return byte == UInt8(ascii: "{") ? .keyOrClose : .valueOrClose
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: throw fail("expected a value")
        }
        return .commaOrClose
    }

    private mutating func string() throws(JSONSyntaxError) {
        index += 1  // the opening quote
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count, (index..<index + 4).allSatisfy({ Self.isHexDigit(bytes[$0]) })
                    else { throw fail("a \\u escape needs four hex digits") }
                    index += 4
                default:
                    index -= 1
                    throw fail("an unknown escape")
                }
            case 0..<0x20:
                index -= 1
                throw fail("a control character in a string")
            default: continue
            }
        }
        throw fail("a string is not closed")
    }

    private mutating func number() throws(JSONSyntaxError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("a number needs digits") }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("a fraction needs digits") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("an exponent needs digits") }
            skipDigits()
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
            (0..<count).allSatisfy({ bytes[index + $0] == word.utf8Start[$0] })
        else { throw fail("expected \(word)") }
        index += count
    }

    private mutating func skipDigits() {
        while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, JSONDocument.isWhitespace(bytes[index]) { index += 1 }
    }

    private func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }
}
