import ArgumentParser
import Foundation
import Logging
import OTel
import ServiceLifecycle

/// OpenTelemetry trace export for the commands that serve (coordinator, worker, router) and for `handoff demo`,
/// through swift-otel, configured the standard way: off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER`) is set; then `OTEL_EXPORTER_OTLP_PROTOCOL`
/// (`grpc`, `http/protobuf`, `http/json`), `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`
/// (a sampling ratio), `OTEL_RESOURCE_ATTRIBUTES` and the rest of the specification's variables apply. Only
/// traces: metrics stay on `/metrics`, logs on standard error.
enum TraceExport {
    /// Whether `environment` asks for trace export.
    static func isRequested(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        if let exporter = environment["OTEL_TRACES_EXPORTER"] { return exporter != "none" }
        return environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
    }

    /// Installs swift-otel's tracer when export is asked for, with `serviceName` unless `OTEL_SERVICE_NAME` says
    /// otherwise; the service that exports the spans (run it first in the service group, so that it stops last and
    /// flushes what the others ended), or nil.
    /// - Parameter instance: the process's `service.instance.id` (a worker's id), unless `OTEL_RESOURCE_ATTRIBUTES`
    ///   names one.
    /// - Throws: `ValidationError` for an `OTEL_TRACES_EXPORTER` other than `otlp` or `none`.
    static func bootstrap(serviceName: String, instance: String? = nil) throws -> (any Service)? {
        guard isRequested() else { return nil }
        if let exporter = ProcessInfo.processInfo.environment["OTEL_TRACES_EXPORTER"], exporter != "otlp" {
            throw ValidationError("OTEL_TRACES_EXPORTER=\(exporter) is not supported: set otlp, or none")
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        if let instance { configuration.resourceAttributes["service.instance.id"] = instance }
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogLevel = .warning
        return try OTel.bootstrap(configuration: configuration)
    }

    /// Runs `body` with trace export when it is asked for, then flushes the spans before returning.
    static func withExport<T>(serviceName: String, _ body: () async throws -> T) async throws -> T {
        guard let service = try bootstrap(serviceName: serviceName) else { return try await body() }
        let group = ServiceGroup(
            services: [service], gracefulShutdownSignals: [], logger: Logger(label: "handoff.tracing"))
        let exporting = Task { try await group.run() }
        defer { exporting.cancel() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try? await exporting.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await exporting.value
            throw error
        }
    }
}
