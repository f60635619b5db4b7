import Foundation
import Glibc

/// The live node's network interfaces, from `/sys/class/net` and `getifaddrs`.
enum NetworkInterfaceScanner {
    static func scan() -> [NetworkInterface] {
        let addresses = interfaceAddresses()
        return SysfsReader.entries("/sys/class/net").compactMap { name in
            let base = "/sys/class/net/\(name)"
            guard let type = SysfsReader.integer("\(base)/type") else { return nil }
            let pciAddress = SysfsReader.pciAddress(ofDeviceLink: "\(base)/device")
            return NetworkInterface(
                name: name, kind: kind(arpType: type), state: SysfsReader.text("\(base)/operstate"),
                speedMbps: SysfsReader.integer("\(base)/speed").flatMap { $0 > 0 ? $0 : nil },
                mtu: SysfsReader.integer("\(base)/mtu"), pciAddress: pciAddress,
                numaNode: pciAddress.flatMap(SysfsReader.numaNode(ofPCIAddress:)),
                macAddress: SysfsReader.text("\(base)/address"), addresses: addresses[name] ?? [],
                rdmaDevice: SysfsReader.entries("\(base)/device/infiniband").first)
        }
    }

    /// ARPHRD_* values from `/sys/class/net/NAME/type`.
    private static func kind(arpType: Int) -> NetworkInterface.Kind {
        switch arpType {
        case 1: .ethernet
        case 32: .infiniband
        case 772: .loopback
        default: .other
        }
    }

    /// IPv4 and IPv6 addresses with prefix length, by interface name.
    private static func interfaceAddresses() -> [String: [String]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [:] }
        defer { freeifaddrs(list) }
        var result: [String: [String]] = [:]
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, let name = current.pointee.ifa_name else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else {
                continue
            }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let prefix = current.pointee.ifa_netmask.map { prefixLength(of: $0, family: family) }
            result[String(cString: name), default: []].append(prefix.map { "\(text)/\($0)" } ?? text)
        }
        return result
    }

    private static func prefixLength(of mask: UnsafeMutablePointer<sockaddr>, family: Int32) -> Int {
        let bytes: [UInt8]
        if family == AF_INET {
            bytes = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
            }
        } else {
            bytes = mask.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
            }
        }
        return bytes.reduce(0) { $0 + $1.nonzeroBitCount }
    }
}
