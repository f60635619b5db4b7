import Foundation

/// Identifies the machine (and boot) a process runs on, so that a peer can tell whether a descriptor comes from
/// its own host: the kernel's boot id, which every process of one boot shares, network namespaces included.
public enum HostIdentity {
    /// This host's identity: `/proc/sys/kernel/random/boot_id`, or the host name where that is unreadable.
    public static let current: String = {
        if let bootID = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) {
            let trimmed = bootID.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        return ProcessInfo.processInfo.hostName
    }()
}
