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

extension HostIdentity {
    /// The IPv4 addresses of this host's interfaces that are up, non-loopback ones first.
    public static func ipv4Addresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return ["127.0.0.1"] }
        defer { freeifaddrs(list) }
        var (external, loopback): ([String], [String]) = ([], [])
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                entry.pointee.ifa_flags & UInt32(IFF_UP) != 0
            else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var inet = in_addr()
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet = $0.pointee.sin_addr }
            inet_ntop(AF_INET, &inet, &text, socklen_t(text.count))
            let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) != 0 {
                loopback.append(host)
            } else {
                external.append(host)
            }
        }
        let all = external + loopback
        return all.isEmpty ? ["127.0.0.1"] : all
    }
}
