import CUCX
import HandoffDataPlane

/// One notification on its way: owns the header and payload bytes until UCX is done with them.
final class UCXNotificationSend {
    typealias Completion = @Sendable (Result<Void, DataPlaneError>) -> Void

    private let header: UnsafeMutableRawPointer
    private let payload: UnsafeMutableRawBufferPointer
    private let completion: Completion

    private init(sender: UInt64, payload: [UInt8], completion: @escaping Completion) {
        header = .allocate(byteCount: 8, alignment: 8)
        header.storeBytes(of: sender.littleEndian, as: UInt64.self)
        self.payload = .allocate(byteCount: max(payload.count, 1), alignment: 8)
        self.payload.copyBytes(from: payload)
        self.completion = completion
        payloadCount = payload.count
    }

    private let payloadCount: Int

    deinit {
        header.deallocate()
        payload.deallocate()
    }

    /// Posts the active message; `completion` runs on the loop's thread once UCX has sent it or failed.
    static func start(on connection: UCXConnection, sender: UInt64, payload: [UInt8], completion: @escaping Completion)
    {
        let send = UCXNotificationSend(sender: sender, payload: payload, completion: completion)
        let retained = Unmanaged.passRetained(send)
        var param = ucp_request_param_t()
        param.op_attr_mask = UInt32(
            UCP_OP_ATTR_FIELD_CALLBACK.rawValue | UCP_OP_ATTR_FIELD_USER_DATA.rawValue
                | UCP_OP_ATTR_FIELD_FLAGS.rawValue)
        param.flags = UInt32(UCP_AM_SEND_FLAG_EAGER.rawValue)
        param.user_data = retained.toOpaque()
        param.cb.send = { request, status, userData in
            guard let userData else { return }
            let send = Unmanaged<UCXNotificationSend>.fromOpaque(userData).takeRetainedValue()
            send.finish(status)
            if let request { ucp_request_free(request) }
        }
        let status = ucp_am_send_nbx(
            connection.endpoint, UCXThreadState.notificationMessageID, send.header, 8, send.payload.baseAddress,
            send.payloadCount, &param)
        guard let status else {
            retained.release()
            return completion(.success(()))
        }
        if handoff_ucs_ptr_is_err(status) != 0 {
            retained.release()
            completion(
                .failure(
                    .ucx(UCXError(operation: "ucp_am_send_nbx(notification)", status: handoff_ucs_ptr_status(status)))))
        }
    }

    private func finish(_ status: ucs_status_t) {
        if status == UCS_OK {
            completion(.success(()))
        } else {
            completion(.failure(.ucx(UCXError(operation: "notification completion", status: status))))
        }
    }
}
