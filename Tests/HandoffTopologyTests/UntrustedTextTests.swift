import Foundation
import HandoffTopology
import Testing

@Suite struct UntrustedTextTests {
    @Test func controlCharactersAndBidiOverridesBecomeReplacementCharacters() {
        #expect(UntrustedText.printable("a\u{1B}[2Jb\rc\u{202E}d\u{85}e") == "a\u{FFFD}[2Jb\u{FFFD}c\u{FFFD}d\u{FFFD}e")
        #expect(UntrustedText.printable("gpu0 · NUMA 1 ✓") == "gpu0 · NUMA 1 ✓")
    }

    @Test func jsonStringsDecodeToPrintableText() throws {
        let json = #"{"host":"a\u001b]0;x\u0007b\r\u202e","path":"C:\\new","raw":"\#u{1B}[1m"}"#
        let decoded = try #require(
            try JSONSerialization.jsonObject(with: Data(UntrustedText.printableJSON(json).utf8)) as? [String: String])
        for value in decoded.values {
            #expect(!value.unicodeScalars.contains { $0.properties.generalCategory == .control })
        }
        #expect(decoded["host"]?.hasPrefix("a\u{FFFD}]0;x") == true)
    }
}
