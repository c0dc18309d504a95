use std::time::{Duration, Instant};

/// Lines a client may send: `burst` at once, refilled at `per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Bucket size: lines that may arrive back to back.
    pub burst: u32,
    /// Lines per second, sustained.
    pub per_sec: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 20,
            per_sec: 10.0,
        }
    }
}

/// A token bucket over the time values the reactor passes in.
///
/// Kept as a "theoretical arrival time" (GCRA, the leaky-bucket form of the
/// same limit) in whole nanoseconds rather than as a fractional token count:
/// floating-point refills can fall a hair short of a token at the very
/// instant they promised one, and a limiter that says "retry now" forever
/// would spin the reactor. Here the promised instant always grants the token
/// and a refusal always names a later instant.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Time per token.
    interval: Duration,
    /// How far ahead of `now` the schedule may run: the burst.
    tolerance: Duration,
    /// When the bucket will be full again (at or before `now`: it is full).
    full_at: Instant,
}

impl TokenBucket {
    /// Longest time per token: a rate so small that it would overflow the
    /// clock is taken as one line a day.
    const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

    /// A full bucket at `now`.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        let interval = Duration::try_from_secs_f64(1.0 / limit.per_sec)
            .unwrap_or(Self::MAX_INTERVAL)
            .clamp(Duration::from_nanos(1), Self::MAX_INTERVAL);
        TokenBucket {
            interval,
            tolerance: interval * limit.burst.saturating_sub(1),
            full_at: now,
        }
    }

    /// Takes one token, or says when the next one will be there (always
    /// after `now`).
    pub fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        let full_at = self.full_at.max(now);
        let allowed_at = full_at - self.tolerance.min(full_at - now);
        if allowed_at > now {
            return Err(allowed_at);
        }
        self.full_at = full_at + self.interval;
        Ok(())
    }

    /// Takes `tokens` more, owed if there are not that many: the next
    /// [`TokenBucket::try_take`] waits until they have refilled. Returns
    /// when the next token will be there (`now` if it is).
    pub fn charge(&mut self, now: Instant, tokens: u32) -> Instant {
        let owed = self.interval.saturating_mul(tokens);
        self.full_at = crate::later(self.full_at.max(now), owed);
        self.full_at - self.tolerance.min(self.full_at - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 3,
                per_sec: 10.0,
            },
            t0,
        );
        for _ in 0..3 {
            assert!(b.try_take(t0).is_ok());
        }
        let next = b.try_take(t0).unwrap_err();
        assert_eq!(next, t0 + Duration::from_millis(100));
        assert!(b.try_take(next).is_ok());
        assert!(b.try_take(next).is_err());
        // A long pause refills only up to the burst.
        let later = next + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.try_take(later).is_ok());
        }
        assert!(b.try_take(later).is_err());
    }

    /// The promised instant always grants the token, however the clock was
    /// sampled before (found by fuzzing: a float refill fell a hair short
    /// and asked for a retry "now", forever).
    #[test]
    fn the_promised_instant_always_grants() {
        let t0 = Instant::now();
        let limit = RateLimit {
            burst: 3,
            per_sec: 10.0,
        };
        let mut b = TokenBucket::new(limit, t0);
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        let t1 = t0 + Duration::from_millis(11);
        assert!(b.try_take(t1).is_ok());
        let next = b.try_take(t1).unwrap_err();
        assert!(next > t1);
        assert_eq!(b.try_take(next), Ok(()));
        // And over many odd steps, a refusal never names the present.
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 20,
                per_sec: 3.7,
            },
            t0,
        );
        let mut now = t0;
        for i in 0..10_000u64 {
            match b.try_take(now) {
                Ok(()) => now += Duration::from_nanos(i * 7_919 % 50_000_000),
                Err(at) => {
                    assert!(at > now);
                    now = at;
                }
            }
        }
    }

    #[test]
    fn a_charge_is_owed_by_the_next_take() {
        let t0 = Instant::now();
        let limit = RateLimit {
            burst: 5,
            per_sec: 10.0,
        };
        let mut b = TokenBucket::new(limit, t0);
        assert!(b.try_take(t0).is_ok());
        assert_eq!(b.charge(t0, 2), t0, "2 of the 4 left: still one now");
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        // Empty now: 3 owed, then the next token.
        let next = b.charge(t0, 3);
        assert_eq!(next, t0 + Duration::from_millis(400));
        assert_eq!(b.try_take(t0), Err(next));
        assert!(b.try_take(next).is_ok());
    }

    #[test]
    fn extreme_rates_do_not_overflow() {
        let t0 = Instant::now();
        for per_sec in [1e-300, 1e300, f64::INFINITY] {
            let mut b = TokenBucket::new(
                RateLimit {
                    burst: u32::MAX,
                    per_sec,
                },
                t0,
            );
            assert!(b.try_take(t0).is_ok());
        }
    }
}
