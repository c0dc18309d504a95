//! Client input path of the chat room: `TelnetFilter` → `LineCodec::decode_next`
//! → `sanitize`, fed exactly as `ChatService` feeds it, in arbitrary chunks.
//!
//! TCP may split a client's bytes anywhere, and every byte comes from an
//! untrusted peer, so this checks that:
//! - nothing panics;
//! - the frames are the same whatever the chunking (compared with feeding the
//!   whole input as one chunk);
//! - no decoded line is longer than `max_line`, and the codec never buffers
//!   more than `max_line + 1` bytes (room for the CR of a CRLF);
//! - the filter only ever emits 0xFF for an escaped `IAC IAC` pair, and with
//!   no 0xFF in the input it only turns `CR NUL` into `CR LF`;
//! - sanitized text is UTF-8 (by type) with no ESC, DEL, C0 (but TAB) or C1
//!   control, and sanitizing twice changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::chat::{sanitize, Frame, LineCodec, TelnetFilter};

const IAC: u8 = 0xFF;

#[derive(Arbitrary, Debug)]
struct Case {
    /// Line limit; small so that over-long lines are common.
    max_line: u8,
    /// The input, as TCP delivered it.
    chunks: Vec<Vec<u8>>,
}

/// Filters and frames `chunks` one at a time, as `ChatService::handle_data`
/// does, checking the codec's memory bound after every chunk. Returns the
/// frames and the filtered byte stream.
fn run(max_line: usize, chunks: &[&[u8]]) -> (Vec<Frame>, Vec<u8>) {
    let mut filter = TelnetFilter::default();
    let mut codec = LineCodec::new(max_line);
    let (mut frames, mut filtered) = (Vec::new(), Vec::new());
    for chunk in chunks {
        let mut pending = Vec::new();
        filter.filter(chunk, &mut pending);
        filtered.extend_from_slice(&pending);
        let mut at = 0;
        while at < pending.len() {
            let (n, frame) = codec.decode_next(&pending[at..]);
            assert!(n > 0, "decode_next made no progress");
            at += n;
            frames.extend(frame);
            assert!(
                codec.buffered() <= max_line + 1,
                "codec holds {} bytes",
                codec.buffered()
            );
        }
    }
    (frames, filtered)
}

/// Upper bound on the 0xFF bytes the filter may emit: one per
/// non-overlapping `IAC IAC` pair in the input.
fn escaped_iacs(input: &[u8]) -> usize {
    let (mut count, mut i) = (0, 0);
    while i + 1 < input.len() {
        if input[i] == IAC && input[i + 1] == IAC {
            count += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    count
}

fn check_sanitized(text: &str) {
    for c in text.chars() {
        assert!(
            c == '\t' || !c.is_control(),
            "control {c:?} survived in {text:?}"
        );
    }
    assert_eq!(
        sanitize(text.as_bytes()),
        text,
        "sanitize is not idempotent"
    );
}

fuzz_target!(|case: Case| {
    let max_line = usize::from(case.max_line);
    let chunks: Vec<&[u8]> = case.chunks.iter().map(Vec::as_slice).collect();
    let whole: Vec<u8> = chunks.concat();

    let (frames, filtered) = run(max_line, &chunks);
    let (frames_whole, filtered_whole) = run(max_line, &[&whole]);
    assert_eq!(
        filtered, filtered_whole,
        "telnet filter depends on chunking"
    );
    assert_eq!(frames, frames_whole, "line codec depends on chunking");

    let iacs_out = filtered.iter().filter(|&&b| b == IAC).count();
    assert!(
        iacs_out <= escaped_iacs(&whole),
        "unescaped IAC reached the codec"
    );
    if !whole.contains(&IAC) {
        let mut expected = whole.clone();
        for i in 1..expected.len() {
            if expected[i - 1] == b'\r' && expected[i] == 0 {
                expected[i] = b'\n';
            }
        }
        assert_eq!(filtered, expected, "filter changed plain data");
    }

    for frame in &frames {
        match frame {
            Ok(line) => {
                assert!(
                    line.len() <= max_line,
                    "{}-byte line passed a {max_line} limit",
                    line.len()
                );
                assert!(!line.contains(&b'\n'), "line holds its terminator");
                check_sanitized(&sanitize(line));
            }
            Err(e) => assert_eq!(e.limit, max_line),
        }
    }
    // Sanitizing is also applied to raw bytes the codec never saw whole.
    check_sanitized(&sanitize(&whole));
});
