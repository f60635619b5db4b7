import Glibc

/// Serves one `DataPlaneProbe` on a native TCP connection whose first 32 bytes were the probe greeting:
/// describes this node, answers round trips and streams bytes on request, blocking the connection's thread.
struct TCPProbeSession {
    /// How a probe is answered.
    enum Answer {
        case describe(DataPlaneProbe.Describe)
        /// Refused with this reason.
        case refuse(String)
    }

    let connection: TCPSocket
    let answer: Answer
    /// How long the prober may stay silent.
    var idleTimeout: Duration = .seconds(30)

    func run() {
        connection.setReceiveTimeout(idleTimeout)
        let describe: DataPlaneProbe.Describe
        switch answer {
        case let .describe(function): describe = function
        case let .refuse(reason):
            send("ERROR " + reason)
            return
        }
        guard send("TOPOLOGY " + describe()) else { return }
        var pings = 0
        while let line = receiveLine() {
            let words = line.split(separator: " ", omittingEmptySubsequences: false)
            switch (words.first, words.count) {
            case ("QUIT", 1):
                return
            case ("PING", 2) where pings < DataPlaneProbe.maxPings:
                pings += 1
                guard send("PONG \(words[1])") else { return }
            case ("STREAM", 2):
                guard let bytes = Int(words[1]), (1...DataPlaneProbe.maxStreamBytes).contains(bytes) else {
                    send("ERROR STREAM takes 1 to \(DataPlaneProbe.maxStreamBytes) bytes")
                    return
                }
                guard send("STREAM \(bytes)"), stream(bytes) else { return }
            default:
                send("ERROR expected PING <n> (at most \(DataPlaneProbe.maxPings)), STREAM <bytes> or QUIT, got \"\(line.prefix(40))\"")
                return
            }
        }
    }

    /// Sends `bytes` zero bytes, 1 MiB at a time.
    private func stream(_ bytes: Int) -> Bool {
        let chunk = [UInt8](repeating: 0, count: min(bytes, 1 << 20))
        var left = bytes
        while left > 0 {
            do {
                try connection.send(left >= chunk.count ? chunk : Array(chunk.prefix(left)), "stream probe bytes")
            } catch {
                return false
            }
            left -= min(left, chunk.count)
        }
        return true
    }

    @discardableResult
    private func send(_ line: String) -> Bool {
        (try? connection.send(Array((line + "\n").utf8), "answer probe")) != nil
    }

    /// The next line without its newline; nil at end of stream, on a timeout, or for a line too long (refused).
    private func receiveLine() -> String? {
        var bytes: [UInt8] = []
        while bytes.count <= DataPlaneProbe.maxLineBytes {
            guard let byte = try? connection.receive(1, "receive probe line").first else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        send("ERROR a probe line is at most \(DataPlaneProbe.maxLineBytes) bytes")
        return nil
    }
}
