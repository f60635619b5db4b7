import HandoffControlProtocol
import HandoffProto
import Testing

/// A `traceparent` comes from callers and the wire: only a well-formed one is kept, and a bad one never fails the
/// message that carries it.
@Suite struct TraceParentTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aWellFormedValueIsKept() throws {
        let parent = try #require(TraceParent(Self.valid))
        #expect(parent.value == Self.valid && parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceParent.checked(Self.valid) == Self.valid)
    }

    @Test(arguments: [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  // short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // long
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\u{e9}",  // not ASCII
    ])
    func aMalformedValueIsDropped(_ header: String) {
        #expect(TraceParent(header) == nil)
        #expect(TraceParent.checked(header) == "")
    }

    @Test func aMalformedValueOnTheWireLeavesTheOrderValidAndUntraced() throws {
        let message = Handoff_V1_CoordinatorMessage.with {
            $0.prefill = .with {
                $0.ticket = "t1"
                $0.requestID = "r1"
                $0.promptTokens = 16
                $0.blocks = 1
                $0.leaseSeconds = 5
                $0.traceparent = String(repeating: "x", count: 100_000)
            }
        }
        guard case .prefill(let order) = try WorkerInstruction(proto: message) else {
            Issue.record("not a prefill order")
            return
        }
        #expect(order.traceparent == "" && order.ticket == "t1")
    }
}
