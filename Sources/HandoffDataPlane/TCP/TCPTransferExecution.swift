import Foundation
import Glibc
import HandoffCore
import Histogram
import Synchronization

/// One transfer over a `TCPPeerLink`: the plan cut into requests of at most `batchBytes`, striped over several
/// sockets, each stripe run on its own thread with blocking scatter/gather I/O into or out of the local pool.
///
/// Reads keep two requests in flight per socket; writes stream every request and then collect the answers.
/// The transfer is done only when every request was answered and every byte moved; the first failure, the
/// deadline or cancellation shuts all its sockets down, and the sockets are closed instead of reused.
final class TCPTransferExecution: Sendable {
    /// One request: ranges of the peer's pool and the matching local memory, in the same byte order.
    struct Batch: Sendable {
        var remote: [TCPWire.Range] = []
        var local: [(address: UInt, length: Int)] = []
        var bytes = 0
    }

    private struct Progress {
        var completed = 0
        var finishedStripes = 0
        var failure: DataPlaneError?
        /// The first failure was a connection the peer had closed or reset before answering any request.
        var failedOnStaleConnection = false
        var latencies = LatencySummary.histogram()
        var waiting: CheckedContinuation<Void, Never>?
    }

    let batches: [Batch]
    let operation: TransferOperation
    /// The token every request carries.
    let grant: UInt64
    private let sockets: [TCPSocket]
    private let agent: UInt64
    private let progress = Mutex(Progress())

    /// Ranges per request: the request (16 B a range) stays within what one socket buffer holds, so a client
    /// sending its next request never waits on a server that is waiting to send an answer.
    static let maxRangesPerRequest = 2_000

    /// Cuts `plan` into requests: READ takes the plan's source from the peer, WRITE its destination.
    static func batches(
        of plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, batchBytes: Int
    ) -> [Batch] {
        var batches: [Batch] = []
        var current = Batch()
        func add(remoteRegion: Int, remoteOffset: Int, localRegion: Int, localOffset: Int, length: Int) {
            if current.bytes + length > batchBytes || current.remote.count == maxRangesPerRequest,
                !current.remote.isEmpty
            {
                batches.append(current)
                current = Batch()
            }
            current.remote.append(TCPWire.Range(region: remoteRegion, offset: remoteOffset, length: length))
            current.local.append((local.regions[localRegion].address + UInt(localOffset), length))
            current.bytes += length
        }
        for op in plan.ops {
            let (remoteRegion, remoteOffset, localRegion, localOffset) =
                operation == .read
                ? (op.sourceRegion, op.sourceOffset, op.destinationRegion, op.destinationOffset)
                : (op.destinationRegion, op.destinationOffset, op.sourceRegion, op.sourceOffset)
            var done = 0
            while done < op.length {  // a range is at most batchBytes long
                let length = min(op.length - done, batchBytes)
                add(
                    remoteRegion: remoteRegion, remoteOffset: remoteOffset + done, localRegion: localRegion,
                    localOffset: localOffset + done, length: length)
                done += length
            }
        }
        if !current.remote.isEmpty { batches.append(current) }
        return batches
    }

    init(batches: [Batch], operation: TransferOperation, grant: UInt64, sockets: [TCPSocket], agent: UInt64) {
        self.batches = batches
        self.operation = operation
        self.grant = grant
        self.sockets = sockets
        self.agent = agent
    }

    /// Runs every stripe; returns once all have ended, or throws the first failure.
    /// - Returns: per-request latency.
    /// - Parameter deadline: `MonotonicClock` nanoseconds.
    func run(deadline: UInt64, timeout: Duration) async throws(DataPlaneError) -> Histogram<UInt64> {
        let stripes = sockets.count
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                progress.withLock { $0.waiting = continuation }
                for stripe in 0..<stripes {
                    let thread = Thread { [self] in runStripe(stripe, of: stripes) }
                    thread.name = "handoff-tcp-transfer"
                    thread.start()
                }
                let watchdog = Thread { [self] in
                    while MonotonicClock.nanos() < deadline {
                        if progress.withLock({ $0.finishedStripes == stripes }) { return }
                        usleep(1_000)
                    }
                    fail(
                        .timedOut(
                            after: timeout, completedOps: progress.withLock { $0.completed }, totalOps: batches.count))
                }
                watchdog.start()
            }
        } onCancel: {
            fail(.cancelled(completedOps: progress.withLock { $0.completed }, totalOps: batches.count))
        }
        let (failure, latencies) = progress.withLock { ($0.failure, $0.latencies) }
        if let failure { throw failure }
        return latencies
    }

    /// Whether the transfer failed only because a connection had been closed or reset by the peer before any
    /// request was answered (a pooled connection the peer closed as idle): it may run again on new connections.
    var failedOnStaleConnection: Bool { progress.withLock { $0.failure != nil && $0.failedOnStaleConnection } }

    /// Records the first failure and stops every stripe. The sockets are shut down under the lock, while no
    /// stripe has let `run` return, so they are still open (not yet closed and their numbers reused).
    func fail(_ error: DataPlaneError, connectionLost: Bool = false) {
        progress.withLock { progress in
            guard progress.failure == nil, progress.finishedStripes < sockets.count else { return }
            progress.failure = error
            progress.failedOnStaleConnection = connectionLost && progress.completed == 0
            for socket in sockets { socket.shutdown() }
        }
    }

    private func runStripe(_ stripe: Int, of stripes: Int) {
        let mine = Array(stride(from: stripe, to: batches.count, by: stripes))
        do {
            if operation == .read {
                try read(mine, on: sockets[stripe])
            } else {
                try write(mine, on: sockets[stripe])
            }
        } catch let error as DataPlaneError {
            fail(error)
        } catch let error as TCPSocket.Failure {
            let lost = [TCPSocket.Failure.closedCode, EPIPE, ECONNRESET].contains(error.code)
            fail(.peerFailed(agent: agent, reason: "\(error)"), connectionLost: lost)
        } catch {
            fail(.peerFailed(agent: agent, reason: "\(error)"))
        }
        let waiting = progress.withLock { progress in
            progress.finishedStripes += 1
            defer { if progress.finishedStripes == sockets.count { progress.waiting = nil } }
            return progress.finishedStripes == sockets.count ? progress.waiting : nil
        }
        waiting?.resume()
    }

    /// Two requests in flight: the next is sent while the answer to the one before streams in.
    private func read(_ indices: [Int], on socket: TCPSocket) throws {
        var sent = 0
        var started: [UInt64] = []
        func sendNext() throws {
            let batch = batches[indices[sent]]
            started.append(MonotonicClock.nanos())
            let header = TCPWire.RequestHeader(
                kind: .read, rangeCount: batch.remote.count, requestID: UInt64(indices[sent] + 1),
                payloadBytes: batch.bytes, grant: grant)
            try socket.send(TCPWire.encode(header, ranges: batch.remote), "send read request")
            sent += 1
        }
        while sent < min(2, indices.count) { try sendNext() }
        for (position, index) in indices.enumerated() {
            try expectAnswer(on: socket, requestID: UInt64(index + 1), payloadBytes: batches[index].bytes)
            var vectors = batches[index].local.map {
                iovec(iov_base: UnsafeMutableRawPointer(bitPattern: $0.address), iov_len: $0.length)
            }
            try socket.receiveAll(&vectors, "receive read data")
            completed(since: started[position])
            if sent < indices.count { try sendNext() }
        }
    }

    /// Two requests with their data in flight: the answer to one is read before the one after next is sent, so
    /// answers never pile up unread.
    private func write(_ indices: [Int], on socket: TCPSocket) throws {
        var started: [UInt64] = []
        var answered = 0
        for index in indices {
            if started.count - answered == 2 {
                try expectAnswer(on: socket, requestID: UInt64(indices[answered] + 1), payloadBytes: 0)
                completed(since: started[answered])
                answered += 1
            }
            let batch = batches[index]
            started.append(MonotonicClock.nanos())
            let header = TCPWire.encode(
                TCPWire.RequestHeader(
                    kind: .write, rangeCount: batch.remote.count, requestID: UInt64(index + 1),
                    payloadBytes: batch.bytes, grant: grant),
                ranges: batch.remote)
            var vectors = batch.local.map {
                iovec(iov_base: UnsafeMutableRawPointer(bitPattern: $0.address), iov_len: $0.length)
            }
            try socket.send(header, then: &vectors, "send write data")
        }
        while answered < indices.count {
            try expectAnswer(on: socket, requestID: UInt64(indices[answered] + 1), payloadBytes: 0)
            completed(since: started[answered])
            answered += 1
        }
    }

    /// Reads an answer header; throws the peer's refusal, or a protocol error for an unexpected answer.
    private func expectAnswer(on socket: TCPSocket, requestID: UInt64, payloadBytes: Int) throws {
        let answer = try TCPWire.decodeResponse(try socket.receive(TCPWire.responseHeaderBytes, "receive answer"))
        if answer.status != TCPWire.Status.ok.rawValue {
            let message = String(decoding: try socket.receive(answer.messageBytes, "receive refusal"), as: UTF8.self)
            throw DataPlaneError.refusedByPeer(agent: agent, reason: message)
        }
        guard answer.requestID == requestID, answer.payloadBytes == payloadBytes, answer.messageBytes == 0 else {
            throw DataPlaneError.peerFailed(
                agent: agent,
                reason:
                    "unexpected answer: request \(answer.requestID) with \(answer.payloadBytes) B, expected request \(requestID) with \(payloadBytes) B"
            )
        }
    }

    private func completed(since start: UInt64) {
        let nanoseconds = MonotonicClock.nanos() &- start
        progress.withLock { progress in
            progress.completed += 1
            _ = progress.latencies.record(nanoseconds)
        }
    }
}
