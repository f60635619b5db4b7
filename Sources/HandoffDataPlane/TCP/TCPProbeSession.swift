import Glibc

/// Serves one `DataPlaneProbe` on a native TCP connection whose first 32 bytes were the probe greeting:
/// describes this node, answers round trips and streams bytes on request, blocking the connection's thread,
/// within the probe's limits.
struct TCPProbeSession {
    /// How the probe is met.
    enum Reply {
        case answer(DataPlaneProbe.AnswerProvider)
        /// Refused with this reason.
        case refuse(String)
    }

    let connection: TCPSocket
    let reply: Reply

    func run() {
        connection.setReceiveTimeout(DataPlaneProbe.idleLimit)
        connection.setSendTimeout(DataPlaneProbe.idleLimit)
        let provider: DataPlaneProbe.AnswerProvider
        switch reply {
        case .answer(let function): provider = function
        case .refuse(let reason):
            send("ERROR " + reason)
            return
        }
        guard let answer = provider() else {
            send("ERROR this node could not be described")
            return
        }
        guard send("TOPOLOGY " + answer) else { return }
        let deadline = ContinuousClock.now + DataPlaneProbe.sessionLimit
        var pings = 0
        var streamed = 0
        while let line = receiveLine() {
            guard ContinuousClock.now < deadline else {
                send("ERROR a probe lasts at most \(DataPlaneProbe.sessionLimit)")
                return
            }
            switch DataPlaneProbe.Request.parse(line, streamBytesLeft: DataPlaneProbe.maxStreamBytes - streamed) {
            case .success(.quit):
                return
            case .success(.ping(let token)):
                pings += 1
                guard pings <= DataPlaneProbe.maxPings else {
                    send("ERROR a probe has at most \(DataPlaneProbe.maxPings) round trips")
                    return
                }
                guard send("PONG \(token)") else { return }
            case .success(.stream(let bytes)):
                streamed += bytes
                guard send("STREAM \(bytes)"), stream(bytes, until: deadline) else { return }
            case .failure(let refusal):
                send("ERROR \(refusal.reason)")
                return
            }
        }
    }

    /// Sends `bytes` zero bytes, 1 MiB at a time; false when sending fails or `deadline` passes (a prober that
    /// reads slowly enough to dodge the send timeout still ends with the session).
    private func stream(_ bytes: Int, until deadline: ContinuousClock.Instant) -> Bool {
        let chunk = [UInt8](repeating: 0, count: min(bytes, 1 << 20))
        var left = bytes
        while left > 0 {
            guard ContinuousClock.now < deadline else { return false }
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

    /// The next line without its newline; nil at end of stream, after the idle limit, or for a line too long
    /// (refused).
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
