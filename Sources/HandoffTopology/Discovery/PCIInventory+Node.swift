/// What the PCI tree says about GPUs, NICs and their relations, for live and recorded topologies alike.
extension PCIInventory {
    /// Compute GPUs, numbered in PCI bus order.
    func gpus() -> [GPU] {
        devices.filter { $0.gpuVendor != nil }.sorted { $0.address < $1.address }.enumerated().map { index, device in
            GPU(
                name: "GPU\(index)", vendor: device.gpuVendor!,
                model: device.osDevices.lazy.compactMap { $0.infos["GPUModel"] }.first ?? device.productName,
                pciAddress: device.address, numaNode: device.numaNode,
                osDevices: device.osDevices.filter { $0.kind == .gpu || $0.kind == .coprocessor }.map(\.name))
        }
    }

    /// NICs: PCI devices with a network or RDMA device, or of a network class.
    func nics() -> [PCIDevice] {
        devices.filter(\.isNIC).sorted { $0.address < $1.address }
    }

    /// The relation of every GPU to every NIC. `rdmaAddresses` are PCI addresses of devices that libibverbs
    /// lists, when it was asked (live); a NIC is RDMA-capable if it is among them or hwloc records an
    /// OpenFabrics device on it.
    func affinity(gpus: [GPU], rdmaAddresses: Set<String> = []) -> [AffinityEntry] {
        let nics = nics()
        return gpus.flatMap { gpu -> [AffinityEntry] in
            guard let gpuDevice = device(at: gpu.pciAddress) else { return [] }
            return nics.map { nic in
                let rdmaName = nic.osDevices.first { $0.kind == .openFabrics }?.name
                let name = rdmaName ?? nic.osDevices.first { $0.kind == .network }?.name ?? nic.address
                return AffinityEntry(
                    gpu: gpu.name, nic: name, rdma: rdmaName != nil || rdmaAddresses.contains(nic.address),
                    relation: relation(gpuDevice, nic), gpuNUMANode: gpu.numaNode, nicNUMANode: nic.numaNode)
            }
        }
    }

    /// Network interfaces as a recorded topology holds them: name, PCI device, NUMA node, hardware address.
    /// An interface whose hardware address is 20 bytes is IP over InfiniBand.
    func recordedInterfaces() -> [NetworkInterface] {
        nics().flatMap { nic in
            nic.osDevices.filter { $0.kind == .network }.map { osDevice in
                let mac = osDevice.infos["Address"]
                let isInfiniBand = mac.map { $0.split(separator: ":").count == 20 } ?? osDevice.name.hasPrefix("ib")
                return NetworkInterface(
                    name: osDevice.name, kind: isInfiniBand ? .infiniband : .ethernet, pciAddress: nic.address,
                    numaNode: nic.numaNode, macAddress: mac,
                    rdmaDevice: nic.osDevices.first { $0.kind == .openFabrics }?.name)
            }
        }
    }

    /// RDMA devices as a recorded topology holds them: hwloc's OpenFabrics devices with `PortNState` and
    /// `PortNGIDk` infos. The link layer is inferred from the network interfaces on the same PCI device
    /// (IP over InfiniBand: InfiniBand; Ethernet: RoCE).
    func recordedRDMADevices() -> [RDMADevice] {
        let interfaces = recordedInterfaces()
        return nics().flatMap { nic in
            nic.osDevices.filter { $0.kind == .openFabrics }.map { osDevice in
                let carried = interfaces.filter { $0.pciAddress == nic.address }
                let kinds = Set(carried.map(\.kind))
                let linkLayer: RDMAPort.LinkLayer =
                    kinds == [.infiniband] ? .infiniband : kinds == [.ethernet] ? .ethernet : .unknown
                return RDMADevice(
                    name: osDevice.name, pciAddress: nic.address, numaNode: nic.numaNode,
                    nodeGUID: osDevice.infos["NodeGUID"],
                    ports: Self.recordedPorts(osDevice.infos, linkLayer: linkLayer, netdev: carried.first?.name))
            }
        }
    }

    private static func recordedPorts(
        _ infos: [String: String], linkLayer: RDMAPort.LinkLayer, netdev: String?
    ) -> [RDMAPort] {
        let numbers = infos.keys.compactMap { key -> Int? in
            guard key.hasPrefix("Port"), key.hasSuffix("State") else { return nil }
            return Int(key.dropFirst(4).dropLast(5))
        }
        return numbers.sorted().map { number in
            let gids = infos.compactMap { key, value -> GIDEntry? in
                let prefix = "Port\(number)GID"
                guard key.hasPrefix(prefix), let index = Int(key.dropFirst(prefix.count)) else { return nil }
                return GIDEntry(index: index, gid: value, kind: linkLayer == .infiniband ? .infiniband : .unknown)
            }.sorted { $0.index < $1.index }
            return RDMAPort(
                number: number, state: RDMAPort.State(verbsValue: Int(infos["Port\(number)State"] ?? "") ?? 0),
                linkLayer: linkLayer, netdev: netdev, gids: gids)
        }
    }
}
