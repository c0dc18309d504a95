//! A throwaway `redis-server` on 127.0.0.1 for the cluster tests: no
//! persistence, killed on drop. Every wait has a deadline.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{skip, DEADLINE};

/// Set to 1 where `redis-server` must be present (CI): the tests that need
/// it fail instead of skipping.
pub const REQUIRE_REDIS: &str = "SWITCHBOARD_REQUIRE_REDIS";

/// The program the tests start.
const REDIS_SERVER: &str = "redis-server";

/// How many fresh ports [`RedisServer::start`] tries: another process may
/// take a free port between our look and redis-server's bind.
const PORT_ATTEMPTS: usize = 5;

/// Whether `redis-server` can be run.
pub fn have_redis_server() -> bool {
    Command::new(REDIS_SERVER)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the calling test `test` can go on: `redis-server` is installed.
/// Without it, skips the test visibly (see [`skip`]) and says false, or
/// panics when [`REQUIRE_REDIS`] is 1.
pub fn redis_or_skip(test: &str) -> bool {
    if have_redis_server() {
        return true;
    }
    if std::env::var_os(REQUIRE_REDIS).is_some_and(|v| v == "1") {
        panic!("{test}: redis-server is not installed, and {REQUIRE_REDIS}=1 requires it");
    }
    skip(test, "redis-server is not installed");
    false
}

/// A running `redis-server` on 127.0.0.1, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port, trying another port if the first is
    /// taken before redis-server binds it.
    pub fn start() -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match Self::try_start(port) {
                Ok(server) => return server,
                Err(why) => failures.push(format!("port {port}: {why}")),
            }
        }
        panic!("redis-server did not start:\n{}", failures.join("\n"));
    }

    /// Starts one on `port` again, after [`RedisServer::stop`]: the cluster
    /// nodes reconnect to the address they were given.
    pub fn start_on(port: u16) -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(port) {
                Ok(server) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "redis-server did not start on port {port} again:\n{}",
            failures.join("\n")
        );
    }

    /// `redis://127.0.0.1:PORT`, for `--cluster`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it and waits for it to exit: the port is free again when this
    /// returns.
    /// Sends `signal` to the redis-server (SIGSTOP: it hangs, its
    /// connections open; SIGCONT: it goes on).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("running").id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Spawns redis-server on `port` and waits until it answers PING (and is
    /// the process that answers); an error if it exits first.
    fn try_start(port: u16) -> Result<RedisServer, String> {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {REDIS_SERVER}: {e}"))?;
        // Killed on drop from here on, the error paths included.
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let end = Instant::now() + DEADLINE;
        loop {
            let child = server.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("redis-server exited at once ({status})"));
            }
            if let Ok(pid) = answering_pid(addr) {
                // Another redis-server may hold the port (ours then exits).
                if pid == child.id() {
                    return Ok(server);
                }
                return Err(format!("another process ({pid}) answers on the port"));
            }
            if Instant::now() >= end {
                return Err("redis-server did not answer PING in time".to_string());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port of 127.0.0.1 that nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// Connects to the Redis at `addr`, checks that `PING` gets `+PONG`, and
/// returns the server's process id from `INFO server`.
fn answering_pid(addr: SocketAddr) -> Result<u32, String> {
    let timeout = Duration::from_secs(2);
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let mut writer = s.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    writer.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim_end() != "+PONG" {
        // Still loading, or not a Redis.
        return Err(format!("PING answered {line:?}"));
    }
    writer
        .write_all(b"INFO server\r\n")
        .map_err(|e| e.to_string())?;
    line.clear();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let len: usize = (line.trim_end().strip_prefix('$'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("INFO answered {line:?}"))?;
    let mut info = vec![0; len + 2];
    reader.read_exact(&mut info).map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:")?.trim().parse().ok())
        .ok_or_else(|| "no process_id in INFO".to_string())
}
