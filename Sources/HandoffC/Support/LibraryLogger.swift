import Foundation
import Logging

/// The loggers of the C library: to standard error (an embedding engine owns standard output), at the level of
/// `$HANDOFF_LOG_LEVEL` (trace, debug, info, notice, warning, error, critical; default info).
enum LibraryLogger {
    static func make(_ label: String) -> Logger {
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        let level = ProcessInfo.processInfo.environment["HANDOFF_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
        logger.logLevel = level ?? .info
        return logger
    }
}
