import Foundation

/// Small reads from `/sys`, where a missing or unreadable file is an unknown value, not an error.
enum SysfsReader {
    static func text(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    static func integer(_ path: String) -> Int? {
        text(path).flatMap { Int($0) }
    }

    static func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// The PCI address of the device a sysfs `device` link leads to, found among its resolved path's components
    /// (a virtio NIC's link leads to `…/0000:00:03.0/virtio0`).
    static func pciAddress(ofDeviceLink path: String) -> String? {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard resolved != path else { return nil }
        return resolved.split(separator: "/").reversed().first(where: { isPCIAddress($0) }).map(String.init)
    }

    /// `0000:84:00.0`.
    static func isPCIAddress(_ text: Substring) -> Bool {
        let parts = text.split(separator: ":")
        return parts.count == 3 && parts[0].count == 4 && parts[1].count == 2 && parts[2].count == 4
            && parts[2].dropFirst(2).first == "."
    }

    /// The NUMA node of a PCI device; nil when the kernel does not know (-1).
    static func numaNode(ofPCIAddress address: String) -> Int? {
        integer("/sys/bus/pci/devices/\(address)/numa_node").flatMap { $0 >= 0 ? $0 : nil }
    }
}
