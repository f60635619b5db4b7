import AsyncHTTPClient
import Dispatch
import Foundation
import Glibc
import HandoffCore
import NIOCore

/// What `handoff demo --observe` adds: Debian's Prometheus (when installed) scraping every coordinator each second
/// with Handoff's alert rules loaded, and where to look — the coordinators' live views and Prometheus — printed
/// before the requests start, so that a newcomer watches the run in a browser.
final class DemoObservation {
    /// Prometheus's address, nil when it is not installed.
    let prometheusURL: String?
    /// The alert rules Prometheus loaded, nil when none was found.
    let rulesPath: String?
    private let prometheus: Process?
    private let directory: URL

    /// The rules Prometheus loads, from the working directory (a clone of the repository).
    static let rulesFile = "deploy/prometheus/handoff-alerts.yml"

    /// Starts Prometheus scraping `metricsPorts` on loopback, when it is installed.
    init(metricsPorts: [Int]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "handoff-observe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let rules =
            FileManager.default.fileExists(atPath: Self.rulesFile)
            ? URL(fileURLWithPath: Self.rulesFile).standardizedFileURL.path : nil
        rulesPath = rules
        guard let executable = Self.prometheusExecutable() else {
            prometheus = nil
            prometheusURL = nil
            return
        }
        let port = try LoopbackPorts.reserve(1)[0]
        let configuration = directory.appendingPathComponent("prometheus.yml")
        try Self.configuration(metricsPorts: metricsPorts, rules: rules).write(
            to: configuration, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--config.file", configuration.path, "--storage.tsdb.path", directory.appendingPathComponent("data").path,
            "--web.listen-address", "127.0.0.1:\(port)", "--log.level", "warn",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        prometheus = process
        prometheusURL = "http://127.0.0.1:\(port)"
    }

    /// Prometheus's configuration: every coordinator scraped each second, the rules evaluated each second.
    static func configuration(metricsPorts: [Int], rules: String?) -> String {
        let targets = metricsPorts.sorted().map { "'127.0.0.1:\($0)'" }.joined(separator: ", ")
        return """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            \(rules.map { "rule_files: ['\($0)']" } ?? "")
            scrape_configs:
              - job_name: handoff-coordinator
                static_configs:
                  - targets: [\(targets)]
            """
    }

    /// Waits until Prometheus answers its readiness check (up to 30 s); whether it did.
    func waitUntilReady() async -> Bool {
        guard let prometheusURL else { return false }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, prometheus?.isRunning == true {
            let response = try? await HTTPClient.shared.get(
                url: prometheusURL + "/-/ready", deadline: .now() + .seconds(2)
            ).get()
            if response?.status == .ok { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Stops Prometheus and removes its data.
    func stop() {
        if let prometheus, prometheus.isRunning {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    private static func prometheusExecutable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/prometheus" } + ["/usr/bin/prometheus"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Returns when the process gets SIGINT or SIGTERM (which then no longer end it).
    static func waitForInterrupt() async {
        let signals = [SIGINT, SIGTERM]
        for number in signals { signal(number, SIG_IGN) }
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sources = signals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        for await _ in stream { break }
        for source in sources { source.cancel() }
    }
}
