//! Where the reactor reads the time: the system's clocks, or a test's, so
//! that timers, idle timeouts and lingering can be tested without waiting.

use std::time::{Instant, SystemTime};

/// The reactor's source of time.
pub trait Clock: Send {
    /// Now, for deadlines and durations.
    fn now(&self) -> Instant;

    /// Now, as a date (message timestamps people see).
    fn system_time(&self) -> SystemTime;
}

/// The system's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}
