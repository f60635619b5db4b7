import CHandoff
import HandoffConnector
import HandoffControlProtocol
import HandoffDataPlane
import HandoffUCX

/// The data plane a C caller asks for; mutual TLS on native TCP when `HANDOFF_TLS_CERT`, `HANDOFF_TLS_KEY` and
/// `HANDOFF_TLS_CA` are all set.
struct CTransportOptions {
    var selection: TransportSelection = .auto
    var tcp = TCPTransport.Configuration()
    var ucxTransports: [String]?

    init(_ options: UnsafePointer<handoff_transport_options>?) throws(CFailure) {
        tcp.tls = TLSFiles.fromEnvironment()?.dataPlaneTLS
        guard let options = options?.pointee else { return }
        if let kind = cString(options.kind) {
            guard let selection = TransportSelection(rawValue: kind) else {
                throw .invalidArgument("transport kind '\(kind)' is not auto, ucx, tcp or shm")
            }
            self.selection = selection
        }
        if let host = cString(options.tcp_listen_host), !host.isEmpty { tcp.listenHost = host }
        tcp.advertisedHosts = cList(options.tcp_advertised_hosts)
        ucxTransports = cList(options.ucx_transports)
    }
}
