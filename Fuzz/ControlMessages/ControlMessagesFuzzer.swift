// libFuzzer entry point for the proto → model conversions the coordinator runs on what workers and routers send:
// a session's messages (Register, Heartbeat, progress reports), the unary Report and Admit. Built and run by
// scripts/fuzz.sh control-messages, which compiles it with HandoffCore, HandoffControlProtocol, the admission model
// and the generated messages into one module, linked against the debug build's SwiftProtobuf. The first byte picks
// the message; any bytes must give a model value that keeps its invariants, or a typed error: never crash or trap.
import SwiftProtobuf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlMessages(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: start + 1, count: count - 1))
    switch start.load(as: UInt8.self) % 3 {
    case 0:
        guard let message = try? Handoff_V1_WorkerMessage(serializedBytes: bytes) else { return 0 }
        switch message.kind {
        case .register(let register): checkRegistration(register)
        case .report(let report): checkReport(report)
        case .heartbeat(let heartbeat): precondition(Int(heartbeat.freeBlocks) >= 0)
        case nil: break
        }
    case 1:
        guard let report = try? Handoff_V1_ProgressReport(serializedBytes: bytes) else { return 0 }
        checkReport(report)
    default:
        guard let admit = try? Handoff_V1_AdmitRequest(serializedBytes: bytes),
            let request = try? AdmitRequest(proto: admit)
        else { return 0 }
        precondition(request.promptTokens >= 0 && request.requestID == admit.requestID)
    }
    return 0
}

/// A registration that converts has bounded, printable labels, and a layout that is either refused with its
/// contradictions or has sizes whose products fit.
private func checkRegistration(_ register: Handoff_V1_Register) {
    guard let registration = try? WorkerRegistration(proto: register) else { return }
    let id = registration.identity.id
    precondition(!id.isEmpty && id.utf8.count <= 256)
    precondition(!id.unicodeScalars.contains { $0.properties.generalCategory == .control })
    let spec = registration.layout
    guard spec.contradictions().isEmpty else { return }
    guard let layout = try? spec.layout() else { return }
    precondition(layout.totalBytes > 0 && layout.totalBytes <= KVLayout.maxTotalBytes)
    precondition(spec.blockBytes > 0 && spec.blocks(forTokens: Int(UInt32.max)) > 0)
}

private func checkReport(_ report: Handoff_V1_ProgressReport) {
    guard let (ticket, event) = try? ProgressEvent.from(proto: report) else { return }
    precondition(!ticket.isEmpty && ticket.utf8.count <= 256)
    if case .transferFailed(let reason) = event { precondition(reason.utf8.count <= ProgressEvent.maxReasonBytes) }
}
