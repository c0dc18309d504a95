//! Runs the real `switchboard` binary on 127.0.0.1:0 and talks to it over
//! loopback. Every wait has a deadline; servers are killed on drop.
#![allow(dead_code)] // each test file uses its own subset

pub mod room_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Every wait in these tests gives up after this long.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// `switchboard chat` with every front-end on a free port of 127.0.0.1:
/// tests never bind the default ports.
pub const CHAT: &[&str] = &[
    "chat",
    "--listen",
    "127.0.0.1:0",
    "--irc",
    "127.0.0.1:0",
    "--web",
    "127.0.0.1:0",
];

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A running `switchboard` server process.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    lines: Receiver<String>,
    /// Every stderr line seen so far.
    pub log: Vec<String>,
}

impl Server {
    /// Starts `switchboard ARGS...` and waits for "listening on tcp ADDR".
    pub fn start(args: &[&str]) -> Server {
        Self::start_command(bin().args(args))
    }

    /// Starts a prepared `switchboard` command (extra limits, environment).
    pub fn start_command(command: &mut Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            lines,
            log: Vec::new(),
        };
        let line = server.wait_for_log("listening on tcp ");
        let addr = line
            .split("listening on tcp ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        server.addr = addr.parse().expect("address in the log");
        server
    }

    /// The address of the `front_end` listener (`chat`, `irc`), from its
    /// "FRONT_END listening on tcp ADDR" log line, waiting for it.
    pub fn listening_addr(&mut self, front_end: &str) -> SocketAddr {
        let needle = format!("{front_end} listening on tcp ");
        let line = self.wait_for_log(&needle);
        line.split(&needle)
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .expect("address in the log")
    }

    /// The addresses of the `front_end` listeners, from their
    /// "FRONT_END listening on tcp ADDR" log lines, waiting for `count`.
    pub fn listening_addrs(&mut self, front_end: &str, count: usize) -> Vec<SocketAddr> {
        let needle = format!("{front_end} listening on tcp ");
        let end = Instant::now() + DEADLINE;
        loop {
            let addrs: Vec<SocketAddr> = (self.log.iter())
                .filter_map(|l| l.split(&needle).nth(1)?.split_whitespace().next())
                .map(|a| a.parse().expect("address in the log"))
                .collect();
            if addrs.len() >= count {
                return addrs;
            }
            match self
                .lines
                .recv_timeout(end.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.log.push(line),
                Err(_) => panic!(
                    "fewer than {count} {needle:?} lines; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Waits until the log holds `count` lines containing `needle`.
    pub fn wait_for_log_count(&mut self, needle: &str, count: usize) {
        let end = Instant::now() + DEADLINE;
        while self.log.iter().filter(|l| l.contains(needle)).count() < count {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("fewer than {count} log lines with {needle:?} in time"),
            }
        }
    }

    /// The log lines the server writes during the next `window`: waits
    /// for them until the window's end (lines it wrote before the window
    /// and not yet read are kept in [`Server::log`], not returned).
    pub fn log_during(&mut self, window: Duration) -> Vec<String> {
        self.log.extend(self.lines.try_iter());
        let start = self.log.len();
        if self.collect_until(Instant::now() + window) == RecvTimeoutError::Disconnected {
            panic!(
                "the server closed its stderr; log:\n{}",
                self.log.join("\n")
            );
        }
        self.log[start..].to_vec()
    }

    /// Adds log lines to [`Server::log`] until `end`, or until the server's
    /// stderr closes, and says which came first.
    fn collect_until(&mut self, end: Instant) -> RecvTimeoutError {
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(e) => return e,
            }
        }
    }

    /// Collects the rest of the log: every line until the server's stderr
    /// closes (its reader thread ends at EOF), which happens when it exits.
    /// Not just what has arrived so far: the reader thread may not have
    /// passed the last lines on yet.
    fn read_log_to_eof(&mut self) {
        if self.collect_until(Instant::now() + DEADLINE) == RecvTimeoutError::Timeout {
            panic!(
                "server did not exit (its stderr is open); log so far:\n{}",
                self.log.join("\n")
            );
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill failed");
    }

    /// Waits for the process to exit, and reads its log to the end.
    pub fn wait_exit(&mut self) -> ExitStatus {
        // Its stderr closes when it exits: every line is read on the way.
        self.read_log_to_eof();
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < end,
                "server closed its stderr but did not exit; log:\n{}",
                self.log.join("\n")
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// User + system CPU time the process has used so far, in clock ticks
    /// (`/proc/PID/stat`), and the length of a tick in seconds.
    pub fn cpu_ticks(&self) -> (u64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields resume after the command name's ')'; utime and stime are
        // fields 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        (
            ticks,
            1.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64,
        )
    }

    /// Checks the `server` section of a load generator's JSON report, run
    /// since the server had used `ticks_before` (from
    /// [`Server::cpu_ticks`]): the CPU time it reports lies within what the
    /// server used during the run, and is not zero unless the server
    /// used too little for the clock ticks to show (under three ticks for
    /// the whole run); its peak memory is there.
    pub fn assert_measured(&self, report: &serde_json::Value, ticks_before: u64) {
        let cpu = report["server"]["cpu_s"].as_f64().expect("server.cpu_s");
        let (ticks, tick) = self.cpu_ticks();
        let during = (ticks - ticks_before) as f64 * tick;
        assert!(
            cpu <= during + 1e-6,
            "server CPU {cpu} s, more than the {during} s it used during the run: {report}"
        );
        assert!(
            cpu > 0.0 || ticks - ticks_before < 3,
            "no server CPU measured, though it used {during} s during the run: {report}"
        );
        let rss = report["server"]["peak_rss_bytes"].as_u64().unwrap();
        assert!(rss > 1 << 20, "{report}");
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client socket whose reads and writes give up after [`DEADLINE`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Sends `msg` and asserts the same bytes come back.
pub fn assert_echoes(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// Polls `cond` until it holds or [`DEADLINE`] passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// `../shared/` beside the repository: seeds and baselines for developers
/// and CI, absent from a user's clone.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    dir.is_dir().then(|| dir.canonicalize().unwrap())
}

/// Set to 1 where `../shared/` and `python3` must be present (CI with the
/// seeds, a developer's machine): the tests that need them fail instead of
/// skipping.
pub const REQUIRE_SHARED: &str = "SWITCHBOARD_REQUIRE_SHARED";

/// Skips the calling test `test` for want of a prerequisite, visibly: the
/// `SKIPPED` line goes straight to stderr, past the test harness's output
/// capture, so `cargo test` shows it whether the test passes or not. Panics
/// instead when [`REQUIRE_SHARED`] is 1.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(REQUIRE_SHARED).is_some_and(|v| v == "1") {
        panic!("{test}: {why}, and {REQUIRE_SHARED}=1 requires it");
    }
    // Not eprintln!: the harness would capture that and show it only when
    // the test fails.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `python3` can be run.
pub fn have_python3() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A thread-per-connection echo server on 127.0.0.1:0 that passes what each
/// read returned through `fault` before echoing it: a broken peer for
/// checking that the client tools notice.
pub fn spawn_faulty_echo(fault: fn(&mut [u8])) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    fault(&mut buf[..n]);
                    let _ = s.write_all(&buf[..n]);
                }
            });
        }
    });
    addr
}

/// Runs `switchboard ARGS... --duration DURATION --warmup 0s --json` (a
/// load generator), checks that it succeeded, and returns its JSON report.
#[allow(dead_code)] // not every test binary runs the load generators
pub fn bench_json(args: &[&str], duration: &str) -> serde_json::Value {
    let out = bin()
        .args(args)
        .args(["--duration", duration, "--warmup", "0s", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}
