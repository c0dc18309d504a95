//! Flushing an `OutputBuffer`: what the reactor does for every writable
//! connection. Measured with many queued pieces, in the two shapes chat
//! produces — short lines copied into the tail (one plain `write`), and
//! shared `Bytes` between copied slices (a `writev` of up to 64 iovecs) —
//! into a writer that takes everything, and into one that takes only part
//! of each write (a full socket buffer), which exercises the bookkeeping
//! that splits a chunk and keeps its remainder.

use std::hint::black_box;
use std::io::{self, IoSlice, Write};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard_proto::OutputBuffer;

/// Accepts at most `limit` bytes per call and copies nothing, like
/// `io::sink()` with a send-buffer limit. 1000 is no multiple of the piece
/// sizes, so most writes end inside a piece.
struct Partial {
    limit: usize,
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(black_box(buf).len().min(self.limit))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = black_box(bufs).iter().map(|b| b.len()).sum();
        Ok(total.min(self.limit))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// 102 copied 80-byte lines (8 KiB), all coalesced into the tail. Kept
/// under `OutputBuffer::KEEP_CAPACITY` so that the drained buffer keeps its
/// allocation, as on a connection that keeps up: with a 64 KiB backlog the
/// tail is freed inside the flush, and the time measured is then mostly
/// the allocator's (trimming the heap), varying from run to run.
fn copied_only() -> OutputBuffer {
    let line = [b'x'; 80];
    let mut out = OutputBuffer::new();
    for _ in 0..8 * 1024 / line.len() {
        out.push_slice(&line);
    }
    out
}

/// 128 rounds of a shared 1 KiB `Bytes` (queued by reference) and a copied
/// 80-byte line: 256 chunks, 138 KiB, so even a full flush takes 4 writev
/// calls of 64 iovecs.
fn mixed(shared: &Bytes) -> impl Fn() -> OutputBuffer + '_ {
    move || {
        let mut out = OutputBuffer::new();
        for _ in 0..128 {
            out.push_shared(shared);
            out.push_slice(&[b'y'; 80]);
        }
        out
    }
}

fn drain(out: &mut OutputBuffer, w: &mut impl Write) {
    while !out.is_empty() {
        out.write_to(w).expect("the bench writers never fail");
    }
}

/// Flushes buffers made by `fill` into each writer.
fn bench_flush(c: &mut Criterion, name: &str, fill: impl Fn() -> OutputBuffer) {
    let mut group = c.benchmark_group(format!("output_buffer_flush/{name}"));
    group.throughput(Throughput::Bytes(fill().len() as u64));
    // Filling is setup, not timed; a fixed batch bounds the memory held by
    // buffers waiting to be flushed.
    group.bench_function("sink", |b| {
        b.iter_batched_ref(
            &fill,
            |out| drain(out, &mut io::sink()),
            BatchSize::NumIterations(32),
        )
    });
    group.bench_function("partial_1000B", |b| {
        b.iter_batched_ref(
            &fill,
            |out| drain(out, &mut Partial { limit: 1000 }),
            BatchSize::NumIterations(32),
        )
    });
    group.finish();
}

fn output_buffer(c: &mut Criterion) {
    bench_flush(c, "copied_only_8KiB", copied_only);
    let shared = Bytes::from(vec![b's'; 1024]);
    bench_flush(c, "mixed_256_pieces", mixed(&shared));
}

criterion_group!(benches, output_buffer);
criterion_main!(benches);
