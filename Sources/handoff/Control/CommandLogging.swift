import ArgumentParser
import Logging

/// Process-wide logging for the long-running commands: swift-log to standard error.
enum CommandLogging {
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

// swift-format-ignore: AvoidRetroactiveConformances
// `--log-level` parses swift-log's levels; neither package can declare this conformance for the other.
extension Logger.Level: @retroactive ExpressibleByArgument {}
