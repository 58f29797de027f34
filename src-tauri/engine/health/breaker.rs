//! A circuit breaker per row: closed → open after consecutive failures → half-open single
//! trial → closed. Open periods grow with repeated trips but stay short (≤ 8 s), so traffic
//! returns to a recovered row within a few seconds of its next request. Pure: `now` is always
//! passed in.

use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures that open the circuit (a refused connection opens it at once).
pub const FAILURES_TO_OPEN: u32 = 2;
const FIRST_OPEN: Duration = Duration::from_secs(5);
/// A row that recovered gets its trial at most this long after its last failed one: traffic
/// must return to it within 15 s (requests arriving every few seconds find it trialled).
pub const LONGEST_OPEN: Duration = Duration::from_secs(8);
/// A trial that has not reported back after this long is presumed lost.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: Instant },
    HalfOpen { trial_started: Instant },
}

/// What the breaker allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Yes,
    /// One trial request may go; others wait for its result.
    Trial,
    No,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub state: BreakerState,
    consecutive_failures: u32,
    trips: u32,
    /// Open because a team peer runs the trial (team mode): its result closes or extends it.
    following: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            trips: 0,
            following: false,
        }
    }
}

impl Breaker {
    /// What a request would be allowed right now, without taking the trial.
    pub fn peek(&self, now: Instant) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Yes,
            BreakerState::Open { until } if now < until => Admission::No,
            BreakerState::Open { .. } => Admission::Trial,
            BreakerState::HalfOpen { trial_started }
                if now.duration_since(trial_started) < TRIAL_TIMEOUT =>
            {
                Admission::No
            }
            BreakerState::HalfOpen { .. } => Admission::Trial,
        }
    }

    /// Like `peek`, but takes the trial when one is available.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let admission = self.peek(now);
        if admission == Admission::Trial {
            self.state = BreakerState::HalfOpen { trial_started: now };
            // No result from the peer in time: this trial is this router's own.
            self.following = false;
        }
        admission
    }

    pub fn record_success(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.trips = 0;
        self.following = false;
    }

    /// A peer opened this circuit and runs the trial: stay open until its result is due
    /// (`result_due`), then, if no result came, take the trial here.
    pub fn follow_peer(&mut self, result_due: Instant, now: Instant) {
        let until = match self.state {
            BreakerState::Open { until } if until > result_due => until,
            _ => result_due.max(now),
        };
        self.state = BreakerState::Open { until };
        self.following = true;
    }

    /// Whether this circuit waits for a peer's trial rather than its own.
    pub fn is_following(&self) -> bool {
        self.following
    }

    /// `hard` failures (connection refused, DNS) open the circuit at once.
    pub fn record_failure(&mut self, now: Instant, hard: bool) {
        self.consecutive_failures += 1;
        let trip = match self.state {
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => true,
            BreakerState::Closed => hard || self.consecutive_failures >= FAILURES_TO_OPEN,
        };
        self.following = false;
        if trip {
            let open_for = FIRST_OPEN
                .saturating_mul(2u32.saturating_pow(self.trips.min(8)))
                .min(LONGEST_OPEN);
            self.trips += 1;
            self.state = BreakerState::Open {
                until: now + open_for,
            };
        }
    }

    /// When the open circuit lets its next trial through (`None` unless open).
    pub fn trial_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Open { until } => Some(until),
            _ => None,
        }
    }

    pub fn is_open(&self, now: Instant) -> bool {
        self.peek(now) == Admission::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_one_trial() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        breaker.record_failure(start, false);
        assert_eq!(
            breaker.peek(start),
            Admission::Yes,
            "one failure is not enough"
        );
        breaker.record_failure(start, false);
        assert_eq!(
            breaker.peek(start),
            Admission::No,
            "a dead row stops getting traffic at once"
        );
        let later = start + FIRST_OPEN;
        assert_eq!(breaker.admit(later), Admission::Trial);
        assert_eq!(
            breaker.admit(later),
            Admission::No,
            "never a burst: one trial at a time"
        );
        breaker.record_success();
        assert_eq!(breaker.peek(later), Admission::Yes);
    }

    #[test]
    fn a_failed_trial_reopens_for_longer_but_never_past_the_longest_open_period() {
        let mut now = Instant::now();
        let mut breaker = Breaker::default();
        breaker.record_failure(now, true);
        let mut previous = Duration::ZERO;
        for _ in 0..8 {
            let BreakerState::Open { until } = breaker.state else {
                panic!("not open")
            };
            let open_for = until.duration_since(now);
            assert!(
                open_for >= previous && open_for <= LONGEST_OPEN,
                "{open_for:?}"
            );
            previous = open_for;
            now = until;
            assert_eq!(breaker.admit(now), Admission::Trial);
            breaker.record_failure(now, false);
        }
        assert_eq!(previous, LONGEST_OPEN);
    }

    #[test]
    fn a_lost_trial_is_replaced_after_a_while() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        breaker.record_failure(start, true);
        let open_end = start + FIRST_OPEN;
        assert_eq!(breaker.admit(open_end), Admission::Trial);
        assert_eq!(breaker.peek(open_end + TRIAL_TIMEOUT), Admission::Trial);
    }

    #[test]
    fn a_follower_waits_for_the_peers_trial_then_takes_its_own() {
        let now = Instant::now();
        let mut breaker = Breaker::default();
        let result_due = now + Duration::from_secs(15);
        breaker.follow_peer(result_due, now);
        assert_eq!(breaker.peek(now + Duration::from_secs(14)), Admission::No);
        assert!(breaker.is_following());
        assert_eq!(
            breaker.admit(result_due),
            Admission::Trial,
            "no result came"
        );
        assert!(!breaker.is_following(), "the trial is its own");
    }

    #[test]
    fn a_hard_failure_opens_at_once() {
        let now = Instant::now();
        let mut breaker = Breaker::default();
        breaker.record_failure(now, true);
        assert!(breaker.is_open(now));
    }
}
