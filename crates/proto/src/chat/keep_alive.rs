//! Keep-alive for the front-ends whose clients may vanish without a word
//! (IRC, WebSocket): a client silent for the ping interval is pinged; one
//! that stays silent for the ping timeout after that is gone.

use std::time::{Duration, Instant};

pub(crate) use crate::later;

/// What a keep-alive timer that fired asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepAliveDue {
    /// Nothing yet: set the timer for this time.
    Wait(Instant),
    /// Send a ping now, then set the timer for this time.
    Ping(Instant),
    /// The client has been silent this long since its ping: close it.
    TimedOut(Duration),
}

/// When a client was last heard from, and whether a ping is out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepAlive {
    last_heard: Instant,
    /// When our unanswered ping went out.
    ping_sent: Option<Instant>,
}

impl KeepAlive {
    /// A client heard from `now` (it just connected).
    pub fn new(now: Instant) -> Self {
        KeepAlive {
            last_heard: now,
            ping_sent: None,
        }
    }

    /// The client sent something: it is alive.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// The timer fired at `now`: what to do, with `interval` of silence
    /// before a ping and `timeout` after it.
    pub fn poll(&mut self, now: Instant, interval: Duration, timeout: Duration) -> KeepAliveDue {
        if let Some(sent) = self.ping_sent {
            if self.last_heard < sent {
                if now < later(sent, timeout) {
                    return KeepAliveDue::Wait(later(sent, timeout));
                }
                return KeepAliveDue::TimedOut(now.saturating_duration_since(self.last_heard));
            }
            self.ping_sent = None;
        }
        let due = later(self.last_heard, interval);
        if now < due {
            return KeepAliveDue::Wait(due);
        }
        self.ping_sent = Some(now);
        KeepAliveDue::Ping(later(now, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_after_silence_and_times_out_after_the_ping() {
        let t0 = Instant::now();
        let (interval, timeout) = (Duration::from_secs(90), Duration::from_secs(60));
        let mut k = KeepAlive::new(t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            k.poll(at(10), interval, timeout),
            KeepAliveDue::Wait(at(90))
        );
        assert_eq!(
            k.poll(at(90), interval, timeout),
            KeepAliveDue::Ping(at(150))
        );
        assert_eq!(
            k.poll(at(100), interval, timeout),
            KeepAliveDue::Wait(at(150))
        );
        assert_eq!(
            k.poll(at(150), interval, timeout),
            KeepAliveDue::TimedOut(Duration::from_secs(150))
        );
    }

    #[test]
    fn an_answer_to_the_ping_resets_the_clock() {
        let t0 = Instant::now();
        let (interval, timeout) = (Duration::from_secs(90), Duration::from_secs(60));
        let at = |s| t0 + Duration::from_secs(s);
        let mut k = KeepAlive::new(t0);
        assert_eq!(
            k.poll(at(90), interval, timeout),
            KeepAliveDue::Ping(at(150))
        );
        k.heard(at(95));
        assert_eq!(
            k.poll(at(150), interval, timeout),
            KeepAliveDue::Wait(at(185))
        );
    }
}
