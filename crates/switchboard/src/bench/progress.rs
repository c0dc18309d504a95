//! What a running benchmark shows while it runs: a live bar on a terminal,
//! a plain line per second otherwise (logs, CI), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the display is refreshed. Updates are throttled here, not per
/// event: the loop calls [`Progress::update`] every turn.
const BAR_REFRESH: Duration = Duration::from_millis(100);
const LINE_EVERY: Duration = Duration::from_secs(1);

enum Display {
    Off,
    Bar(ProgressBar),
    Lines,
}

/// Progress of one benchmark run: warm-up, then the measured window.
pub struct Progress {
    display: Display,
    /// What is counted, e.g. "round trips".
    unit: &'static str,
    measure_from: Instant,
    end: Instant,
    next_refresh: Instant,
}

impl Progress {
    /// Progress over a run that measures from `measure_from` to `end`.
    pub fn new(quiet: bool, unit: &'static str, measure_from: Instant, end: Instant) -> Self {
        let display = if quiet {
            Display::Off
        } else if std::io::stderr().is_terminal() {
            let total = end.saturating_duration_since(measure_from).as_millis() as u64;
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>9} [{bar:30}] {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix("warm-up");
            Display::Bar(bar)
        } else {
            Display::Lines
        };
        Progress {
            display,
            unit,
            measure_from,
            end,
            next_refresh: Instant::now(),
        }
    }

    /// Shows `count` (counted since the measured window began) at `now`.
    pub fn update(&mut self, now: Instant, count: u64) {
        if now < self.next_refresh || matches!(self.display, Display::Off) {
            return;
        }
        let measured = now
            .min(self.end)
            .saturating_duration_since(self.measure_from);
        let total = self.end.saturating_duration_since(self.measure_from);
        let rate = if measured.is_zero() {
            String::new()
        } else {
            format!(
                "{:.0} {}/s",
                count as f64 / measured.as_secs_f64(),
                self.unit
            )
        };
        match &self.display {
            Display::Bar(bar) => {
                self.next_refresh = now + BAR_REFRESH;
                if now >= self.measure_from {
                    bar.set_prefix(if now < self.end {
                        "measuring"
                    } else {
                        "draining"
                    });
                }
                bar.set_position(measured.as_millis() as u64);
                bar.set_message(rate);
            }
            Display::Lines => {
                self.next_refresh = now + LINE_EVERY;
                if now < self.measure_from {
                    eprintln!("warming up");
                } else {
                    eprintln!(
                        "{:.0}/{:.0} s: {rate}",
                        measured.as_secs_f64(),
                        total.as_secs_f64()
                    );
                }
            }
            Display::Off => {}
        }
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }

    /// How long the loop may sleep so that the display stays live.
    pub fn max_wait(&self) -> Duration {
        match self.display {
            Display::Off => Duration::MAX,
            _ => BAR_REFRESH,
        }
    }
}
