import Synchronization

/// The bytes of request bodies the router holds at once, across every request, against a cap: a request reserves
/// its body's size (its `Content-Length`, or the most a body may have when it does not say) before the body is
/// read, and gives it back when it ends. A request that does not fit is refused with 503 rather than read.
final class BodyBudget: Sendable {
    /// The cap, bytes.
    let capacity: Int
    private let held = Mutex(0)

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Reserves `bytes`; nil when they do not fit. The reservation returns them when it is released or dropped.
    func reserve(_ bytes: Int) -> Reservation? {
        let fits = held.withLock { held in
            guard bytes <= capacity - held else { return false }
            held += bytes
            return true
        }
        return fits ? Reservation(budget: self, bytes: bytes) : nil
    }

    /// The bytes held now.
    var heldBytes: Int { held.withLock { $0 } }

    fileprivate func give(_ bytes: Int) { held.withLock { $0 -= bytes } }

    /// Bytes reserved for one request's body.
    final class Reservation: Sendable {
        private let budget: BodyBudget
        private let bytes: Int

        fileprivate init(budget: BodyBudget, bytes: Int) {
            self.budget = budget
            self.bytes = bytes
        }

        deinit { budget.give(bytes) }
    }
}
