import HandoffControlProtocol
import HandoffDataPlane

extension TLSFiles {
    /// The same files as mutual TLS for the native TCP data plane, when they name a certificate, its key and a CA;
    /// nil otherwise (the data plane stays plaintext).
    public var dataPlaneTLS: DataPlaneTLS? {
        guard let certificateChain, let privateKey, let trustRoots else { return nil }
        return DataPlaneTLS(certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots)
    }
}
