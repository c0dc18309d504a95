//! Fan-out: one chat line from one client delivered to the 1,000 others in
//! its room — the chat server's dominant cost under load — in a room of
//! line clients, of IRC clients, and of both (half each: the line is
//! rendered once per wire format). Measured through
//! `ChatService::handle_data`, the call the reactor makes, so the time
//! covers the whole path of a line: telnet filter, framing, sanitizing,
//! formatting and one `Io::send_shared` per member.
//!
//! The `Io` here does what the reactor's does per send (push onto the
//! member's `OutputBuffer`, check the high-water mark) and nothing else, so
//! sockets and syscalls stay out of the number. Time is per line; the
//! throughput figure is per delivery (Throughput::Elements(1000)).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_proto::{
    ChatConfig, ChatService, CloseReason, ConnId, FrontEnd, Io, OutputBuffer, Service,
};

const MEMBERS: usize = 1000;
/// Lines sent between drains of the output buffers: enough to amortise the
/// timer, few enough that the short lines' buffers stay within
/// `OutputBuffer::KEEP_CAPACITY` for IRC's longer lines too (as on a server
/// whose clients keep up: a turn's output to one is a few lines).
const BATCH: u64 = 32;

/// One `OutputBuffer` per connection, indexed by `ConnId`, as in the
/// reactor's slab.
struct BufferIo {
    outs: Vec<OutputBuffer>,
    high_water: usize,
    /// Pushes that went over the high-water mark: none expected here.
    over_high_water: usize,
    now: Instant,
}

impl BufferIo {
    fn after_push(&mut self, conn: ConnId) {
        if self.outs[conn.0].len() > self.high_water {
            self.over_high_water += 1;
        }
    }

    /// Everything was written: what a flush to a fast client leaves.
    fn drain(&mut self) {
        for out in &mut self.outs {
            out.consume(out.len());
        }
    }
}

impl Io for BufferIo {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.outs[conn.0].push_slice(bytes);
        self.after_push(conn);
    }

    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes) {
        self.outs[conn.0].push_shared(bytes);
        self.after_push(conn);
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        panic!("{conn} closed ({reason}) during a fan-out bench");
    }

    fn pending_output(&self, conn: ConnId) -> usize {
        self.outs[conn.0].len()
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }

    fn set_timer(&mut self, _conn: ConnId, _when: Instant) {
        // IRC clients' keep-alive: never due within a bench.
    }

    fn pause_reading_until(&mut self, conn: ConnId, _when: Instant) {
        panic!("{conn} paused: the bench runs without a rate limit");
    }

    fn set_service_timer(&mut self, _when: Instant) {
        // Join summaries: never due within a bench.
    }
}

/// A chat with `MEMBERS + 1` clients in the lobby; client 0 (a line
/// client) is the sender, and every `irc_every`-th other one an IRC client
/// (0: none).
fn room(irc_every: usize) -> (ChatService, BufferIo) {
    let mut chat = ChatService::new(ChatConfig {
        rate_limit: None,
        ..ChatConfig::default()
    });
    let mut io = BufferIo {
        outs: (0..=MEMBERS).map(|_| OutputBuffer::new()).collect(),
        high_water: chat.output_limits().high_water,
        over_high_water: 0,
        now: Instant::now(),
    };
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    for id in 0..=MEMBERS {
        let conn = ConnId(id);
        if irc_every > 0 && id % irc_every == 0 && id > 0 {
            chat.handle_connect(conn, peer, FrontEnd::Irc, &mut io);
            let hello = format!("NICK irc{id}\r\nUSER u 0 * :bench\r\nJOIN #lobby\r\n");
            chat.handle_data(conn, hello.as_bytes(), &mut io);
        } else {
            chat.handle_connect(conn, peer, FrontEnd::Line, &mut io);
        }
        io.drain();
    }
    (chat, io)
}

fn fan_out(c: &mut Criterion) {
    let short = b"hello everyone, this is a typical chat line of some 60 bytes\n".to_vec();
    // Over OutputBuffer::COPY_BELOW once formatted: queued by reference,
    // one shared allocation for all 1,000 members.
    let mut long = b"a long paste: ".repeat(72);
    long.push(b'\n');

    let mut group = c.benchmark_group("fan_out_1000");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    for (room_name, irc_every) in [("line", 0), ("mixed", 2), ("irc", 1)] {
        for (name, line) in [("60B_line_copied", &short), ("1KiB_line_shared", &long)] {
            let name = format!("{room_name}/{name}");
            let (mut chat, mut io) = room(irc_every);
            let sender = ConnId(0);
            // Check that the setup measures what it claims: every member but
            // the sender gets the line.
            chat.handle_data(sender, line, &mut io);
            let delivered = io.outs[1].len();
            assert!(delivered >= line.len());
            assert_eq!(io.outs[0].len(), 0);
            assert!(io.outs.iter().skip(1).all(|o| o.len() >= line.len()));
            io.drain();

            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let batch = left.min(BATCH);
                        let start = Instant::now();
                        for _ in 0..batch {
                            chat.handle_data(sender, black_box(line), &mut io);
                        }
                        timed += start.elapsed();
                        io.drain();
                        left -= batch;
                    }
                    timed
                })
            });
            assert_eq!(io.over_high_water, 0);
        }
    }
    group.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
