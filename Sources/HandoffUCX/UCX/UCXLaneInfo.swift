import HandoffDataPlane

/// Reads the transports of an endpoint's lanes out of `ucp_ep_print_info`'s text, whose lane lines look like
/// `#   lane[0]:  3:posix/memory.0 md[3] -> md[3]/posix/sysdev[255] rma_bw#0 am am_bw#0`.
enum UCXLaneInfo {
    static func transports(in text: String) -> [String] {
        var found: [String] = []
        for line in text.split(separator: "\n") where line.contains("lane[") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let rest = line[line.index(after: colon)...].split(separator: " ")
            // The first word after "lane[N]:" is "RSC:transport/device.path".
            guard let resource = rest.first, let slash = resource.firstIndex(of: "/") else { continue }
            let name = resource[..<slash].split(separator: ":").last.map(String.init) ?? ""
            if !name.isEmpty && !found.contains(name) { found.append(name) }
        }
        return found
    }
}
