import Foundation
import HandoffClient
import HandoffProto
import HandoffTestSupport
import Testing

/// The C API as a C engine uses it: `CProgram/handoff_c_test.c`, compiled against `handoff.h` alone and linked
/// with the `libHandoffC.so` that `swift build` put beside this test binary.
@Suite("C API", .serialized)
struct CAPITests {
    @Test(
        "a C program moves blocks and byte ranges byte-exactly and gets clear refusals",
        arguments: ["tcp", "ucx", "auto"])
    func dataPlane(kind: String) async throws {
        let program = try await CProgram.build()
        let (status, output) = try await program.run(["data-plane", kind])
        #expect(status == 0, "\(output)")
        #expect(output.contains(", 0 failed"), "\(output)")
    }

    @Test("a C engine serves requests through a real coordinator as a prefill and a decode worker")
    func runtime() async throws {
        let program = try await CProgram.build()
        try await withCoordinator { address in
            async let run = program.run(
                ["runtime", address.description, "4"], environment: ["HANDOFF_TOKEN": address.token.value])
            let accounts = try await withCoordinatorClient(address) { client in
                try await waitForWorkers(client, count: 2)
                var accounts: [Handoff_V1_RequestAccount] = []
                for index in 0..<4 {
                    _ = try await client.admit(
                        .with {
                            $0.requestID = "c\(index)"
                            $0.model = "c-engine"
                            $0.promptTokens = UInt32(17 + index * 30)
                        })
                    accounts.append(
                        try await client.await(
                            .with {
                                $0.requestID = "c\(index)"
                                $0.timeoutSeconds = 20
                            }))
                }
                return accounts
            }
            for account in accounts {
                #expect(account.state == "done" && account.verified, "\(account.requestID): \(account.failure)")
            }
            let (status, output) = try await run
            #expect(status == 0, "\(output)")
            #expect(output.contains("loaded 4 verified 4"), "\(output)")
        }
    }
}

/// The test program, compiled once per test run.
struct CProgram: Sendable {
    let path: String
    let libraryDirectory: String

    /// Compiled on a thread of its own: cc takes seconds on a loaded machine, and every test that waits for it
    /// waits on the task, not on a lazy global's lock that would hold the cooperative threads meanwhile.
    private static let built = Task<Result<CProgram, CProgramError>, Never> {
        await (try? runOnOwnThread { compile() }) ?? .failure(CProgramError(message: "the compiler did not run"))
    }

    static func build() async throws -> CProgram { try await built.value.get() }

    private static func compile() -> Result<CProgram, CProgramError> {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let root = sources.deletingLastPathComponent().deletingLastPathComponent()
        let libraryDirectory = URL(fileURLWithPath: ownExecutable()).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: libraryDirectory + "/libHandoffC.so") else {
            return .failure(CProgramError(message: "no libHandoffC.so in \(libraryDirectory): swift build first"))
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("handoff_c_test-\(getpid())").path
        let arguments = [
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-I",
            root.appendingPathComponent("Sources/CHandoff/include").path,
            sources.appendingPathComponent("CProgram/handoff_c_test.c").path, "-L", libraryDirectory, "-lHandoffC",
            "-Wl,-rpath,\(libraryDirectory)", "-o", output,
        ]
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        compiler.arguments = arguments
        let errors = Pipe()
        compiler.standardError = errors
        do {
            try compiler.run()
        } catch {
            return .failure(CProgramError(message: "cannot run cc: \(error)"))
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else {
            return .failure(CProgramError(message: "cc failed: \(message)"))
        }
        return .success(CProgram(path: output, libraryDirectory: libraryDirectory))
    }

    /// Runs the program to its end; its standard output and error together.
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let collected = OutputCollector(output.fileHandleForReading)
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return (status, collected.finish())
    }
}

struct CProgramError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Reads a child's output on a thread of its own as it comes, so that a chatty child never blocks.
private final class OutputCollector: @unchecked Sendable {
    // @unchecked: `data` is written by the reading thread only, and read after `done` was signalled.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
        thread.start()
    }

    func finish() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

private func ownExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return String(decoding: buffer[..<max(length, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
