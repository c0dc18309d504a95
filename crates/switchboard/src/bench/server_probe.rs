use std::fs;
use std::time::Duration;

use anyhow::{Context, Result};

/// Reads a server process's CPU time and peak memory from `/proc/PID`, so a
/// benchmark can report cost per operation, not just throughput.
pub struct ServerProbe {
    pid: u32,
    ticks_per_sec: f64,
    cpu_at_start: Duration,
}

impl ServerProbe {
    /// Starts measuring `pid`'s CPU time from now.
    pub fn start(pid: u32) -> Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let mut probe = ServerProbe {
            pid,
            ticks_per_sec: ticks.max(1) as f64,
            cpu_at_start: Duration::ZERO,
        };
        probe.cpu_at_start = probe.cpu_time()?;
        Ok(probe)
    }

    /// User + system CPU time the process has used in total.
    fn cpu_time(&self) -> Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // The command name may hold spaces; fields resume after its ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("malformed stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok(Duration::from_secs_f64(ticks as f64 / self.ticks_per_sec))
    }

    /// CPU time used since [`ServerProbe::start`].
    pub fn cpu_used(&self) -> Result<Duration> {
        Ok(self.cpu_time()?.saturating_sub(self.cpu_at_start))
    }

    /// Peak resident set size in bytes (`VmHWM`).
    pub fn peak_rss(&self) -> Result<u64> {
        status_kib(self.pid, "VmHWM:").map(|kib| kib * 1024)
    }
}

/// A process's resident set size in bytes right now (`VmRSS`).
pub fn current_rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("no {field} in {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time of this whole process, from the kernel's precise clock
    /// rather than `/proc`'s clock ticks.
    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes into `ts`.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn reads_own_process() {
        const BURN: Duration = Duration::from_millis(200);
        let before = process_cpu();
        let probe = ServerProbe::start(std::process::id()).unwrap();
        let mut x = 0u64;
        while process_cpu() - before < BURN {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
        let used = probe.cpu_used().unwrap();
        let total = process_cpu() - before;
        // `/proc` counts whole clock ticks, and may lag a running thread by
        // one: half the burn is plenty of margin below, two ticks above.
        let tick = Duration::from_secs_f64(1.0 / probe.ticks_per_sec);
        assert!(
            used >= BURN / 2,
            "{used:?} of CPU seen while burning {BURN:?}"
        );
        assert!(
            used <= total + 2 * tick,
            "{used:?} of CPU seen, more than the {total:?} used"
        );
        assert!(probe.peak_rss().unwrap() > 1024 * 1024);
        let rss = current_rss(std::process::id()).unwrap();
        assert!(rss > 1024 * 1024 && rss <= probe.peak_rss().unwrap());
    }
}
