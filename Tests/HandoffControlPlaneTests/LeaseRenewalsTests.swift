import Testing

@testable import HandoffControlPlane

/// The local lease deadline a leader acts on: never later than etcd's.
@Suite struct LeaseRenewalsTests {
    let granted = ContinuousClock.now
    let ttl = Duration.seconds(1)

    @Test func theDeadlineStartsAtTheGrantRequestPlusTheTTLLessTheMargin() {
        let renewals = LeaseRenewals(granted: granted, ttl: ttl)
        #expect(renewals.validUntil == granted + .milliseconds(900))
        #expect(renewals.interval == .milliseconds(200))
        #expect(renewals.lapse(at: granted + .milliseconds(899)) == nil)
        #expect(renewals.lapse(at: granted + .milliseconds(900)) != nil)
    }

    @Test func anAnswerExtendsFromTheOldestUnansweredRenewalNotFromWhenItArrived() {
        var renewals = LeaseRenewals(granted: granted, ttl: ttl)
        renewals.sent(at: granted + .milliseconds(200))
        renewals.sent(at: granted + .milliseconds(400))  // a second renewal before the first was answered
        // The answer (to either) arrives late: the lease is proven only from the first send.
        #expect(renewals.answered(ttlSeconds: 1) == granted + .milliseconds(1100))
        // A second answer has no send of its own left to prove: it moves nothing.
        #expect(renewals.answered(ttlSeconds: 1) == nil)
        #expect(renewals.validUntil == granted + .milliseconds(1100))
    }

    @Test func aPausedLeaderFindsItsLeaseLapsedAndALeaseEtcdSaysIsGoneLapsesAtOnce() {
        var renewals = LeaseRenewals(granted: granted, ttl: ttl)
        renewals.sent(at: granted + .milliseconds(200))
        _ = renewals.answered(ttlSeconds: 1)
        // SIGSTOP for 10 s: on waking, the lease is known lapsed before anything acts on it.
        #expect(renewals.lapse(at: granted + .seconds(10)) != nil)

        var gone = LeaseRenewals(granted: granted, ttl: ttl)
        gone.sent(at: granted)
        #expect(gone.answered(ttlSeconds: 0) == nil)
        #expect(gone.lapse(at: granted)?.contains("no longer exists") == true)
    }

    @Test func longLeasesKeepATenthBackAndRenewFiveTimesPerTTL() {
        let renewals = LeaseRenewals(granted: granted, ttl: .seconds(3))
        #expect(renewals.validUntil == granted + .milliseconds(2700))
        #expect(renewals.interval == .milliseconds(600))
    }
}
