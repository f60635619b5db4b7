import GRPCCore
import HandoffClient
import HandoffConnector
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffProto
import HandoffUCX
import Synchronization
import Testing

@Suite("Connector runtime", .serialized)
struct ConnectorRuntimeTests {
    /// A geometry no preset has: 3 layers, 2 KV heads of 64 dims in fp16, 16-token blocks, K and V fused per block.
    static let spec = try! KVLayoutSpec(
        engineModel: "engine-test", layers: 3, kvHeads: 2, headDim: 64, dtypeBytes: 2, blockTokens: 16, numBlocks: 48,
        arrangement: .fused)

    @Test(
        "an engine's own memory moves byte-exactly through a real coordinator",
        arguments: [TransportSelection.tcp, .auto])
    func engineMemoryMovesThroughTheCoordinator(transport: TransportSelection) async throws {
        try await withCoordinator { address in
            let prefill = try await TestEngine.start(
                role: .prefill, spec: Self.spec, coordinator: address, transport: transport)
            let decode = try await TestEngine.start(
                role: .decode, spec: Self.spec, coordinator: address, transport: transport)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await prefill.run() }
                group.addTask { try await decode.run() }
                let accounts = try await withCoordinatorClient(address) { client in
                    try await waitForWorkers(client, count: 2)
                    var accounts: [Handoff_V1_RequestAccount] = []
                    for index in 0..<6 {
                        let requestID = "r\(index)"
                        _ = try await client.admit(
                            .with {
                                $0.requestID = requestID
                                $0.model = Self.spec.model
                                $0.promptTokens = UInt32(20 + index * 21)  // 2 to 8 blocks
                            })
                        accounts.append(
                            try await client.await(
                                .with {
                                    $0.requestID = requestID
                                    $0.timeoutSeconds = 20
                                }))
                    }
                    return accounts
                }
                for account in accounts {
                    #expect(account.state == "done", "\(account.requestID): \(account.failure)")
                    #expect(account.verified)
                    #expect(account.kvBytes == UInt64(account.promptTokens + 15) / 16 * UInt64(Self.spec.blockBytes))
                }
                #expect(decode.verified == 6 && decode.mismatched == 0)
                prefill.runtime.close()
                decode.runtime.close()
                try await group.waitForAll()
            }
            // Every block came back: decode freed each request's, prefill each release (confirmed or at close).
            #expect(prefill.freeBlocks == Self.spec.numBlocks && decode.freeBlocks == Self.spec.numBlocks)
        }
    }

    @Test(
        "push mode: prefill writes each layer into decode's reserved blocks, byte-exactly, and nothing is pulled",
        arguments: [TransportSelection.tcp, .auto])
    func pushModeWritesIntoDecodesBlocks(transport: TransportSelection) async throws {
        try await withCoordinator { address in
            let prefill = try await TestEngine.start(
                role: .prefill, spec: Self.spec, coordinator: address, transport: transport, pushes: true)
            let decode = try await TestEngine.start(
                role: .decode, spec: Self.spec, coordinator: address, transport: transport)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await prefill.run() }
                group.addTask { try await decode.run() }
                let accounts = try await withCoordinatorClient(address) { client in
                    try await waitForWorkers(client, count: 2)
                    var accounts: [Handoff_V1_RequestAccount] = []
                    for (index, mode) in [Handoff_V1_TransferMode.push, .push, .pull, .push, .push, .push].enumerated()
                    {
                        let requestID = "r\(index)"
                        _ = try await client.admit(
                            .with {
                                $0.requestID = requestID
                                $0.model = Self.spec.model
                                $0.promptTokens = UInt32(20 + index * 21)  // 2 to 8 blocks
                                $0.transferMode = mode
                            })
                        accounts.append(
                            try await client.await(
                                .with {
                                    $0.requestID = requestID
                                    $0.timeoutSeconds = 20
                                }))
                    }
                    return accounts
                }
                for (index, account) in accounts.enumerated() {
                    #expect(account.state == "done", "\(account.requestID): \(account.failure)")
                    #expect(account.verified)
                    #expect(account.transferMode == (index == 2 ? "pull" : "push"))
                    #expect(account.kvBytes == UInt64(account.promptTokens + 15) / 16 * UInt64(Self.spec.blockBytes))
                    let parts = account.components
                    #expect(parts.kvTransfer >= 0 && parts.prefill >= 0 && parts.coordination >= 0)
                    let sum = parts.queue + parts.prefill + parts.coordination + parts.kvTransfer + parts.firstDecode
                    #expect(abs(sum - parts.ttft) < 1e-6)
                }
                // Decode checked every byte of what prefill pushed; the pull-mode request was pulled.
                #expect(decode.verified == 6 && decode.mismatched == 0 && prefill.pushed == 5)
                prefill.runtime.close()
                decode.runtime.close()
                try await group.waitForAll()
            }
            #expect(prefill.freeBlocks == Self.spec.numBlocks && decode.freeBlocks == Self.spec.numBlocks)
        }
    }

    @Test(
        "a push that ends before its KV landed keeps decode's blocks until no write can come, unless TCP stops writes",
        arguments: [TransportSelection.tcp, .auto])
    func anUnlandedPushQuarantinesDecodesBlocks(transport: TransportSelection) async throws {
        try await withCoordinator { address in
            let prefill = try await TestEngine.start(
                role: .prefill, spec: Self.spec, coordinator: address, transport: transport, pushes: true,
                onPrefill: { _, _ in false })  // computes forever: never pushes, never hands over
            let decode = try await TestEngine.start(
                role: .decode, spec: Self.spec, coordinator: address, transport: transport,
                pushQuarantine: .milliseconds(1500))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await prefill.run() }
                group.addTask { try await decode.run() }
                let held = try await withCoordinatorClient(address) { client in
                    try await waitForWorkers(client, count: 2)
                    _ = try await client.admit(
                        .with {
                            $0.requestID = "r"
                            $0.model = Self.spec.model
                            $0.promptTokens = 64
                            $0.transferMode = .push
                        })
                    let reserved = try await client.await(
                        .with {
                            $0.requestID = "r"
                            $0.timeoutSeconds = 20
                            $0.untilReserved = true
                        })
                    #expect(reserved.reserved && reserved.state == "admitted")
                    // From before the cancel is sent: the quarantine cannot start earlier, however late the
                    // cancel's answer comes back on a loaded machine.
                    let cancelled = ContinuousClock.now
                    _ = try await client.cancel(.with { $0.requestID = "r" })
                    while decode.freeBlocks < Self.spec.numBlocks {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    return ContinuousClock.now - cancelled
                }
                // Over shared memory a revoked grant cannot stop the prefill's writes: the blocks wait out the
                // quarantine. Over TCP the revocation stops them, and the blocks come back at once.
                if transport == .tcp {
                    #expect(held < .milliseconds(1000), "\(held)")
                } else {
                    #expect(held >= .milliseconds(1300), "\(held)")
                }
                prefill.runtime.close()
                decode.runtime.close()
                try await group.waitForAll()
            }
        }
    }

    @Test("answers that do not fit the ticket are refused and change nothing")
    func badAnswersAreRefused() async throws {
        let refusals = Mutex<[ConnectorError]>([])
        try await withCoordinator { address in
            let prefill = try await TestEngine.start(
                role: .prefill, spec: Self.spec, coordinator: address, transport: .tcp
            ) {
                order, runtime in
                let numBlocks = Self.spec.numBlocks
                for bad in [
                    Array(0..<order.blocks + 1), [numBlocks] + Array(0..<order.blocks - 1),
                    Array(repeating: 0, count: order.blocks),
                ] {
                    do {
                        try runtime.prefillDone(ticket: order.ticket, blocks: bad)
                    } catch let error as ConnectorError {
                        refusals.withLock { $0.append(error) }
                    } catch {}
                }
                for answer in [
                    { try runtime.prefillDone(ticket: "no-such-ticket", blocks: [0]) },
                    { try runtime.transferDone(ticket: order.ticket, verified: true) },
                    { try runtime.firstToken(ticket: order.ticket, decodeSeconds: -.infinity) },
                ] {
                    do {
                        try answer()
                    } catch let error as ConnectorError {
                        refusals.withLock { $0.append(error) }
                    } catch {}
                }
                return true  // then the engine answers properly
            }
            let decode = try await TestEngine.start(
                role: .decode, spec: Self.spec, coordinator: address, transport: .tcp)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await prefill.run() }
                group.addTask { try await decode.run() }
                let account = try await withCoordinatorClient(address) { client in
                    try await waitForWorkers(client, count: 2)
                    _ = try await client.admit(
                        .with {
                            $0.requestID = "r"
                            $0.model = Self.spec.model
                            $0.promptTokens = 64
                        })
                    return try await client.await(
                        .with {
                            $0.requestID = "r"
                            $0.timeoutSeconds = 20
                        })
                }
                #expect(account.state == "done" && account.verified, "\(account.failure)")
                prefill.runtime.close()
                decode.runtime.close()
                try await group.waitForAll()
            }
        }
        let errors = refusals.withLock { $0 }
        #expect(errors.count == 6)
        let invalidBlocks = errors.prefix(3).allSatisfy { if case .invalidBlocks = $0 { true } else { false } }
        #expect(invalidBlocks, "\(errors)")
        guard errors.count == 6 else { return }
        if case .unknownTicket("no-such-ticket", _) = errors[3] {} else { Issue.record("\(errors[3])") }
        if case .unknownTicket = errors[4] {} else { Issue.record("\(errors[4])") }
        if case .invalidArgument = errors[5] {} else { Issue.record("\(errors[5])") }
    }

    @Test("a lease that ends before decode confirms expires the ticket, and both engines get their blocks back")
    func leaseExpiryAndFailureRelease() async throws {
        let configure: @Sendable (inout CoordinatorConfiguration) -> Void = {
            $0.lease = .milliseconds(300)
            $0.transferTimeout = .seconds(3)
        }
        try await withCoordinator(configure: configure) { address in
            let prefill = try await TestEngine.start(
                role: .prefill, spec: Self.spec, coordinator: address, transport: .tcp)
            let decode = try await TestEngine.start(
                role: .decode, spec: Self.spec, coordinator: address, transport: .tcp, answersLoads: false)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await prefill.run() }
                group.addTask { try await decode.run() }
                try await withCoordinatorClient(address) { client in
                    try await waitForWorkers(client, count: 2)
                    let admitted = ContinuousClock.now
                    _ = try await client.admit(
                        .with {
                            $0.requestID = "unconfirmed"
                            $0.model = Self.spec.model
                            $0.promptTokens = 64
                        })
                    // The lease ends long before the coordinator's 3 s transfer timeout fails the ticket.
                    while prefill.heldTickets == 0 && ContinuousClock.now - admitted < .seconds(2) {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    while prefill.heldTickets > 0 && ContinuousClock.now - admitted < .seconds(10) {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    #expect(
                        ContinuousClock.now - admitted < .seconds(2),
                        "the prefill blocks came back only with the failure")
                    #expect(prefill.freeBlocks == Self.spec.numBlocks)
                    let account = try await client.await(
                        .with {
                            $0.requestID = "unconfirmed"
                            $0.timeoutSeconds = 30
                        })
                    #expect(account.state == "expired")
                }
                let deadline = ContinuousClock.now + .seconds(10)
                while decode.heldTickets > 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(decode.freeBlocks == Self.spec.numBlocks)
                prefill.runtime.close()
                decode.runtime.close()
                try await group.waitForAll()
            }
        }
    }

    @Test func engineLayoutsDeriveThePieceAndRefuseNonsense() throws {
        let spec = try KVLayoutSpec(
            engineModel: "vllm-cpu", layers: 2, kvHeads: 2, headDim: 64, dtypeBytes: 2, blockTokens: 128,
            numBlocks: 8192,
            arrangement: .fused, kindsPerBlock: 1)
        #expect(spec.pieceBytes == 2 * 64 * 2 * 128 && spec.blockBytes == 2 * 32_768)
        #expect(throws: KVModelError.self) {
            try KVLayoutSpec(
                engineModel: "m", layers: 0, kvHeads: 2, headDim: 64, dtypeBytes: 2, blockTokens: 16, numBlocks: 8,
                arrangement: .split)
        }
        #expect(throws: KVModelError.self) {
            try KVLayoutSpec(
                engineModel: "m", layers: 2, kvHeads: .max / 2, headDim: 64, dtypeBytes: 2, blockTokens: 16,
                numBlocks: 8, arrangement: .split)
        }
        #expect(throws: KVModelError.self) {
            try KVLayoutSpec(
                engineModel: "m", layers: 1 << 20, kvHeads: 8, headDim: 128, dtypeBytes: 2, blockTokens: 16,
                numBlocks: 1 << 30,
                arrangement: .split)
        }
        // A preset's name with another geometry is a contradiction, not a new model.
        #expect(throws: KVModelError.self) {
            try KVLayoutSpec(
                engineModel: "llama-3.1-8b", layers: 31, kvHeads: 8, headDim: 128, dtypeBytes: 2, blockTokens: 16,
                numBlocks: 8,
                arrangement: .split)
        }
    }

    @Test func engineBuffersThatDoNotFitTheLayoutAreRefused() async throws {
        let layout = try Self.spec.layout()
        let memory = EngineMemory(layout: layout)
        let configuration = ConnectorConfiguration(
            id: "p", role: .prefill, layout: Self.spec,
            coordinator: CoordinatorAddress(host: "127.0.0.1", port: 1, token: .random()))
        let short = UnsafeMutableRawBufferPointer(rebasing: memory.buffers[0][0..<layout.regionBytes - 1])
        for buffers in [Array(memory.buffers.dropLast()), [short] + memory.buffers.dropFirst()] {
            await #expect {
                _ = try await ConnectorRuntime.start(configuration, memory: .engine(buffers))
            } throws: { error in
                if case .registration = error as? ConnectorError { true } else { false }
            }
        }
    }
}

/// Waits until `count` workers are registered.
func waitForWorkers(_ client: Handoff_V1_Coordinator.Client<some GRPCCore.ClientTransport>, count: Int) async throws {
    for _ in 0..<500 {
        if try await client.listWorkers(.init()).workers.count >= count { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("workers did not register")
}
