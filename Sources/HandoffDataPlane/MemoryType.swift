/// Where a pool's memory lives. Transports state which types they can register; the type travels in descriptors
/// so a peer never treats device memory as host memory.
public enum MemoryType: String, Sendable, Hashable, Codable, CaseIterable {
    /// Ordinary host (CPU) memory.
    case host
    /// NVIDIA GPU memory (needs a CUDA-enabled UCX: GPUDirect RDMA, cuda_ipc).
    case cuda
    /// AMD GPU memory (needs a ROCm-enabled UCX).
    case rocm

    var wireValue: UInt8 {
        switch self {
        case .host: 0
        case .cuda: 1
        case .rocm: 2
        }
    }

    init?(wireValue: UInt8) {
        switch wireValue {
        case 0: self = .host
        case 1: self = .cuda
        case 2: self = .rocm
        default: return nil
        }
    }
}
