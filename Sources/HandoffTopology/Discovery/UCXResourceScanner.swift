import CUCX
import Foundation

/// What UCX offers on the live node, through UCT's component and memory-domain queries (what `ucx_info -d`
/// prints): every transport on every device, and the memory types its memory domains register.
enum UCXResourceScanner {
    static func scan() -> UCXView {
        let version = String(cString: ucp_get_version_string())
        let environment = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("UCX_") }
        var componentList: UnsafeMutablePointer<uct_component_h?>?
        var componentCount: UInt32 = 0
        let status = uct_query_components(&componentList, &componentCount)
        guard status == UCS_OK, let componentList else {
            return UCXView(
                version: version, resources: [], memoryTypes: [], environment: environment,
                error: "uct_query_components: \(String(cString: ucs_status_string(status)))")
        }
        defer { uct_release_component_list(componentList) }
        var resources: [UCXView.Resource] = []
        var memoryTypes = Set<String>()
        for index in 0..<Int(componentCount) {
            guard let component = componentList[index] else { continue }
            for domain in memoryDomains(of: component) {
                let (domainResources, domainTypes) = query(component, domain: domain)
                resources += domainResources
                memoryTypes.formUnion(domainTypes)
            }
        }
        return UCXView(
            version: version, resources: resources,
            memoryTypes: memoryTypeNames.filter { memoryTypes.contains($0) }, environment: environment)
    }

    private static func memoryDomains(of component: uct_component_h) -> [String] {
        var attributes = uct_component_attr_t()
        attributes.field_mask = UInt64(UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT.rawValue)
        guard uct_component_query(component, &attributes) == UCS_OK, attributes.md_resource_count > 0 else { return [] }
        var domains = [uct_md_resource_desc_t](
            repeating: uct_md_resource_desc_t(), count: Int(attributes.md_resource_count))
        return domains.withUnsafeMutableBufferPointer { buffer in
            attributes.field_mask = UInt64(UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES.rawValue)
            attributes.md_resources = buffer.baseAddress
            guard uct_component_query(component, &attributes) == UCS_OK else { return [] }
            return buffer.map { descriptor in
                withUnsafeBytes(of: descriptor.md_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            }
        }
    }

    /// The transports of one memory domain and the memory types it registers; nothing when it cannot be opened.
    private static func query(_ component: uct_component_h, domain: String) -> ([UCXView.Resource], Set<String>) {
        var config: OpaquePointer?
        guard uct_md_config_read(component, nil, nil, &config) == UCS_OK, let config else { return ([], []) }
        defer { uct_config_release(UnsafeMutableRawPointer(config)) }
        var memoryDomain: uct_md_h?
        guard uct_md_open(component, domain, config, &memoryDomain) == UCS_OK, let memoryDomain else { return ([], []) }
        defer { uct_md_close(memoryDomain) }
        var types = Set<String>()
        var attributes = uct_md_attr_t()
        if uct_md_query(memoryDomain, &attributes) == UCS_OK {
            for (bit, name) in memoryTypeNames.enumerated() where attributes.cap.reg_mem_types & (1 << UInt64(bit)) != 0
            {
                types.insert(name)
            }
        }
        var list: UnsafeMutablePointer<uct_tl_resource_desc_t>?
        var count: UInt32 = 0
        guard uct_md_query_tl_resources(memoryDomain, &list, &count) == UCS_OK, let list else { return ([], types) }
        defer { uct_release_tl_resource_list(list) }
        let resources = (0..<Int(count)).map { index in
            let descriptor = list[index]
            return UCXView.Resource(
                transport: withUnsafeBytes(of: descriptor.tl_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                },
                device: withUnsafeBytes(of: descriptor.dev_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                },
                kind: kind(descriptor.dev_type))
        }
        return (resources, types)
    }

    /// `ucs_memory_type_t` in order: bit N of a memory-type mask is the Nth name.
    private static let memoryTypeNames = ["host", "cuda", "cuda-managed", "rocm", "rocm-managed"]

    private static func kind(_ type: uct_device_type_t) -> UCXView.Resource.Kind {
        switch type {
        case UCT_DEVICE_TYPE_SHM: .sharedMemory
        case UCT_DEVICE_TYPE_ACC: .accelerator
        case UCT_DEVICE_TYPE_SELF: .loopback
        default: .network
        }
    }
}
