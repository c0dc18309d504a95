//! Deadlines from durations that may be huge (`--idle-timeout 1e19`): an
//! `Instant` plus such a duration overflows the clock and panics.

use std::time::{Duration, Instant};

/// `now + d`, or a century from now where that overflows the clock: a
/// deadline that never comes, rather than a panic.
pub fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_duration_is_a_far_deadline_not_a_panic() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(3_000_000_000));
    }
}
