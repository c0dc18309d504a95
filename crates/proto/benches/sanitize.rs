//! The two text-cleaning stages of chat input: `TelnetFilter` (per read,
//! before framing) and `sanitize` (per line, before fan-out). Both run on
//! every byte a client sends, hostile or not, so each is measured on
//! well-behaved input (the common case) and on input that takes its slow
//! paths (what an attacker controls).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_proto::chat::{sanitize, TelnetFilter};

/// Repeats `piece` to at least `len` bytes.
fn fill(piece: &[u8], len: usize) -> Vec<u8> {
    piece.repeat(len.div_ceil(piece.len()))
}

fn sanitize_lines(c: &mut Criterion) {
    // 120 to 156 bytes each: a long-ish chat line.
    let lines: [(&str, Vec<u8>); 4] = [
        // All ASCII, nothing to drop: the fast path everyone hits.
        (
            "plain_ascii",
            fill(b"hello everyone, how is it going today? ", 120),
        ),
        // Colours, cursor moves, an OSC title, C0 controls and DEL: almost
        // everything is dropped, through every escape-skipping branch.
        (
            "ansi_and_controls",
            fill(
                b"\x1b[1;31mred\x1b[0m\x1b[2J\x1b[H\x1b]0;title\x07\x08\x7f\x00x",
                120,
            ),
        ),
        // Valid multi-byte UTF-8 (2-, 3- and 4-byte sequences): no copy in
        // from_utf8_lossy, but char decoding per code point.
        ("utf8_multibyte", fill("été ✓ 日本語 🎉 ".as_bytes(), 120)),
        // Invalid bytes among ASCII: from_utf8_lossy must allocate a
        // repaired copy with U+FFFD before the filtering pass.
        (
            "utf8_invalid",
            fill(b"bad \xff\xfe bytes \xc3 here \xed\xa0\x80 ", 120),
        ),
    ];
    let mut group = c.benchmark_group("sanitize");
    for (name, line) in &lines {
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(*name, |b| b.iter(|| sanitize(black_box(line))));
    }
    group.finish();
}

fn telnet_filter(c: &mut Criterion) {
    // Same shape as the line codec bench: 64 KiB of 80-byte lines, as one
    // read; the filter is a byte-at-a-time state machine.
    let plain = fill(
        &[b'a'; 78]
            .iter()
            .chain(b"\r\n")
            .copied()
            .collect::<Vec<_>>(),
        64 * 1024,
    );
    // What a character-mode telnet client sends: negotiation (WILL/DO,
    // a subnegotiation), escaped IAC bytes and CR NUL line ends.
    let negotiating = fill(
        b"\xff\xfd\x03\xff\xfb\x18\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0hi \xff\xff there\r\0",
        64 * 1024,
    );
    let mut group = c.benchmark_group("telnet_filter");
    let mut out = Vec::with_capacity(64 * 1024);
    for (name, input) in [("64KiB_plain", &plain), ("64KiB_negotiation", &negotiating)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        // A fresh filter per iteration: the inputs end in a clean state
        // anyway, and this keeps iterations independent.
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                TelnetFilter::default().filter(black_box(input), &mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sanitize_lines, telnet_filter);
criterion_main!(benches);
