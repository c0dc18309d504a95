//! Line framing: the first thing every chat byte goes through after the
//! telnet filter, so its cost per byte bounds input throughput.
//!
//! The same 64 KiB of 80-byte lines is fed in one chunk (a client that
//! pipelines, a big read) and in 7-byte chunks (TCP splitting lines
//! anywhere: each line then spans several calls and is assembled in the
//! codec's buffer).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_proto::chat::LineCodec;
use switchboard_proto::ChatConfig;

/// 819 lines of 79 bytes and an LF: just under 64 KiB.
fn input() -> Vec<u8> {
    let text = b"the quick brown fox jumps over the lazy dog ";
    let mut line: Vec<u8> = text.iter().cycle().take(79).copied().collect();
    line.push(b'\n');
    line.repeat(64 * 1024 / line.len())
}

fn line_codec(c: &mut Criterion) {
    let input = input();
    // The limit the chat server runs with; no line here comes near it.
    let max_line = ChatConfig::default().max_line;
    let mut group = c.benchmark_group("line_codec");
    group.throughput(Throughput::Bytes(input.len() as u64));

    // Whole lines in, so the codec holds nothing between iterations.
    let mut codec = LineCodec::new(max_line);
    group.bench_function("64KiB_80B_lines/one_chunk", |b| {
        b.iter(|| codec.decode(black_box(&input), |frame| drop(black_box(frame))))
    });

    let mut codec = LineCodec::new(max_line);
    group.bench_function("64KiB_80B_lines/7B_chunks", |b| {
        b.iter(|| {
            for chunk in black_box(&input).chunks(7) {
                codec.decode(chunk, |frame| drop(black_box(frame)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, line_codec);
criterion_main!(benches);
