/// What UCX on this node offers: its transports and devices (as `ucx_info -d` lists them) and the memory
/// types it can register.
public struct UCXView: Codable, Sendable, Equatable {
    /// One transport on one device (`rc_mlx5` on `mlx5_0:1`, `tcp` on `eth0`, `posix` on `memory`).
    public struct Resource: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            case network
            case sharedMemory = "shm"
            case accelerator
            case loopback = "self"
        }

        public var transport: String
        public var device: String
        public var kind: Kind

        public init(transport: String, device: String, kind: Kind) {
            self.transport = transport
            self.device = device
            self.kind = kind
        }
    }

    /// `1.13.1`; nil when UCX could not be queried.
    public var version: String?
    public var resources: [Resource]
    /// Memory types some memory domain can register: `host`, `cuda`, `cuda-managed`, `rocm`, `rocm-managed`.
    public var memoryTypes: [String]
    /// UCX variables that narrow its choice, as set in this environment (`UCX_TLS`, `UCX_NET_DEVICES`).
    public var environment: [String: String]
    /// Why UCX could not be queried, when it could not.
    public var error: String?

    public init(
        version: String?, resources: [Resource], memoryTypes: [String], environment: [String: String],
        error: String? = nil
    ) {
        self.version = version
        self.resources = resources
        self.memoryTypes = memoryTypes
        self.environment = environment
        self.error = error
    }

    /// Transport names, each once, in the order UCX listed them.
    public var transports: [String] {
        var seen = Set<String>()
        return resources.map(\.transport).filter { seen.insert($0).inserted }
    }

    /// Whether UCX has an RDMA transport (`rc_*`, `dc_*`, `ud_*`) on `device` (an RDMA device name); on any
    /// device when nil.
    public func hasRDMATransport(on device: String? = nil) -> Bool {
        resources.contains { resource in
            Self.isRDMATransport(resource.transport)
                && (device == nil || resource.device == device || resource.device.hasPrefix(device! + ":"))
        }
    }

    /// Whether a transport name is one of UCX's InfiniBand/RoCE transports.
    public static func isRDMATransport(_ name: String) -> Bool {
        ["rc", "dc", "ud"].contains { name == $0 || name.hasPrefix($0 + "_") }
    }

    enum CodingKeys: String, CodingKey {
        case version, resources, environment, error
        case memoryTypes = "memory_types"
    }
}
