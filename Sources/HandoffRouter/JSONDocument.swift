/// A validated JSON text read by byte ranges: the members of an object and the elements of an array are found
/// without building values, scalars are decoded from their own bytes, and token-id arrays are read straight into
/// integers. What the router forwards is then spliced from the client's own bytes.
struct JSONDocument: Sendable {
    /// One member of an object: its key, decoded, and the bytes of the whole member and of its value.
    struct Member: Sendable {
        let key: String
        /// From the key's opening quote to the value's last byte.
        let bytes: Range<Int>
        let value: Range<Int>
    }

    let bytes: [UInt8]
    /// The top-level value's bytes, without surrounding whitespace.
    let root: Range<Int>

    /// - Throws: `JSONSyntaxError` when `bytes` are not one JSON text.
    init(validating bytes: [UInt8]) throws(JSONSyntaxError) {
        try JSONValidator.validate(bytes)
        self.bytes = bytes
        var start = 0
        var end = bytes.count
        while start < end, Self.isWhitespace(bytes[start]) { start += 1 }
        while end > start, Self.isWhitespace(bytes[end - 1]) { end -= 1 }
        root = start..<end
    }

    /// The first byte of a value: `{`, `[`, `"`, a digit or `-`, or the first letter of a literal.
    func first(_ value: Range<Int>) -> UInt8 { bytes[value.lowerBound] }

    func isObject(_ value: Range<Int>) -> Bool { first(value) == UInt8(ascii: "{") }
    func isArray(_ value: Range<Int>) -> Bool { first(value) == UInt8(ascii: "[") }
    func isNull(_ value: Range<Int>) -> Bool { first(value) == UInt8(ascii: "n") }

    /// The members of the object at `value`, in order.
    func members(ofObject value: Range<Int>) -> [Member] {
        var members: [Member] = []
        var index = value.lowerBound + 1
        while true {
            index = skipWhitespace(from: index)
            guard bytes[index] == UInt8(ascii: "\"") else { return members }  // the closing brace
            let keyEnd = endOfString(from: index)
            let key = string(at: index..<keyEnd) ?? ""
            let valueStart = skipWhitespace(from: skipWhitespace(from: keyEnd) + 1)  // past the colon
            let valueEnd = endOfValue(from: valueStart)
            members.append(Member(key: key, bytes: index..<valueEnd, value: valueStart..<valueEnd))
            index = skipWhitespace(from: valueEnd) + 1  // past the comma or the closing brace
            if bytes[index - 1] == UInt8(ascii: "}") { return members }
        }
    }

    /// The elements of the array at `value`, in order.
    func elements(ofArray value: Range<Int>) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        var index = skipWhitespace(from: value.lowerBound + 1)
        guard bytes[index] != UInt8(ascii: "]") else { return elements }
        while true {
            let end = endOfValue(from: index)
            elements.append(index..<end)
            index = skipWhitespace(from: end)
            guard bytes[index] == UInt8(ascii: ",") else { return elements }
            index = skipWhitespace(from: index + 1)
        }
    }

    /// The array at `value` as integers, when every element is a plain non-negative integer (no sign, fraction or
    /// exponent) that fits an `Int`; nil otherwise. Reads the digits in place: no value is built per element.
    func nonNegativeIntegers(ofArray value: Range<Int>) -> [Int]? {
        guard isArray(value) else { return nil }
        var integers: [Int] = []
        integers.reserveCapacity(value.count / 2)
        var index = skipWhitespace(from: value.lowerBound + 1)
        if bytes[index] == UInt8(ascii: "]") { return integers }
        while true {
            var integer = 0
            let start = index
            while JSONValidator.isDigit(bytes[index]) {
                let (times10, overflow) = integer.multipliedReportingOverflow(by: 10)
                let (sum, overflowAgain) = times10.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
                guard !overflow, !overflowAgain else { return nil }
                integer = sum
                index += 1
            }
            guard index > start else { return nil }
            integers.append(integer)
            index = skipWhitespace(from: index)
            switch bytes[index] {
            case UInt8(ascii: ","): index = skipWhitespace(from: index + 1)
            case UInt8(ascii: "]"): return integers
            default: return nil  // a fraction or an exponent
            }
        }
    }

    /// The string at `value`, unescaped; nil when the value is not a string.
    func string(at value: Range<Int>) -> String? {
        guard first(value) == UInt8(ascii: "\"") else { return nil }
        let inner = bytes[(value.lowerBound + 1)..<(value.upperBound - 1)]
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        return Self.unescape(inner)
    }

    /// The number at `value`; nil when the value is not a number.
    func number(at value: Range<Int>) -> Double? {
        let byte = first(value)
        guard byte == UInt8(ascii: "-") || JSONValidator.isDigit(byte) else { return nil }
        return Double(String(decoding: bytes[value], as: UTF8.self))
    }

    /// The boolean at `value`; nil when the value is not `true` or `false`.
    func bool(at value: Range<Int>) -> Bool? {
        switch first(value) {
        case UInt8(ascii: "t"): true
        case UInt8(ascii: "f"): false
        default: nil
        }
    }

    // MARK: Moving over validated bytes

    private func skipWhitespace(from index: Int) -> Int {
        var index = index
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    /// The index just past the string that opens at `index`.
    private func endOfString(from index: Int) -> Int {
        var index = index + 1
        while bytes[index] != UInt8(ascii: "\"") {
            index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        return index + 1
    }

    /// The index just past the value that starts at `index`; containers by counting brackets outside strings.
    private func endOfValue(from index: Int) -> Int {
        switch bytes[index] {
        case UInt8(ascii: "\""): return endOfString(from: index)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = index
            repeat {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index = endOfString(from: index)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                index += 1
            } while depth > 0
            return index
        default:
            var index = index
            while index < bytes.count, !Self.endsScalar(bytes[index]) { index += 1 }
            return index
        }
    }

    private static func endsScalar(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || isWhitespace(byte)
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// A validated string's inner bytes with their escapes resolved (a lone surrogate becomes U+FFFD).
    private static func unescape(_ inner: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = inner.startIndex
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
        }
        func hex(at index: Int) -> UInt32 {
            UInt32(String(decoding: inner[index..<index + 4], as: UTF8.self), radix: 16)!
        }
        while index < inner.endIndex {
            let byte = inner[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            let escaped = inner[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                flush()
                var code = hex(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 6 <= inner.endIndex, inner[index] == UInt8(ascii: "\\"),
                    inner[index + 1] == UInt8(ascii: "u")
                {
                    let low = hex(at: index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: utf8.append(escaped)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }
}
