import Foundation

/// Paths of the recorded topologies in `Fixtures/` (see its README for their sources).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")

    static func hwloc(_ name: String) -> String { directory.appendingPathComponent("hwloc/\(name)").path }
    static func export(_ name: String) -> String { directory.appendingPathComponent("exports/\(name)").path }

    static let wholeIO = hwloc("32em64t-2n8c2t-pci-wholeio.xml")
    static let infiniBandTwoNodes = hwloc("24em64t-2n6c2t-pci.xml")
    static let nicWithoutLocalGPU = hwloc("24em64t-2n6c2t-pci-node0-gpu-removed.xml")
    static let fourNodesEthernet = hwloc("96em64t-4n4d3ca2co-pci.xml")
    static let dgx2 = hwloc("nvidiaDGX2.v3.xml")
    static let roceMisconfigured = export("roce-misconfigured.json")
    static let infiniBandHealthy = export("ib-healthy.json")
}
