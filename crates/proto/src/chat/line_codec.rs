use thiserror::Error;

/// A line longer than the limit; it was discarded up to its newline.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("line longer than {limit} bytes discarded")]
pub struct LineTooLong {
    /// The limit that was passed.
    pub limit: usize,
}

/// One line without its terminator, or the report of an over-long one.
pub type Frame = Result<Vec<u8>, LineTooLong>;

/// Splits a byte stream into lines, however TCP split or joined them.
///
/// Lines end with LF; a CR right before it is dropped (CRLF). A line longer
/// than `max_line` bytes is discarded up to and including its newline, and
/// reported once: memory never grows with the size of the offending input.
#[derive(Clone, Debug)]
pub struct LineCodec {
    buf: Vec<u8>,
    max_line: usize,
    /// Discarding the rest of an over-long line.
    discarding: bool,
}

impl LineCodec {
    /// A codec accepting lines of at most `max_line` bytes (terminator not
    /// counted).
    pub fn new(max_line: usize) -> Self {
        LineCodec {
            buf: Vec::new(),
            max_line,
            discarding: false,
        }
    }

    /// Bytes of a partial line held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Consumes `input` up to the end of the first frame it completes.
    /// Returns how many bytes were consumed and that frame, if any; with no
    /// frame, all of `input` was consumed. Lets the caller stop between
    /// lines (rate limiting) without losing the rest.
    pub fn decode_next(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let newline = input.iter().position(|&b| b == b'\n');
        let (chunk, consumed) = match newline {
            Some(i) => (&input[..i], i + 1),
            None => (input, input.len()),
        };
        let mut frame = None;
        if !self.discarding {
            // `max_line + 1` leaves room for the CR of a CRLF at the limit.
            if self.buf.len() + chunk.len() > self.max_line + 1 {
                self.buf = Vec::new();
                self.discarding = true;
                frame = Some(Err(LineTooLong {
                    limit: self.max_line,
                }));
            } else {
                self.buf.extend_from_slice(chunk);
            }
        }
        if newline.is_none() || std::mem::take(&mut self.discarding) {
            return (consumed, frame);
        }
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max_line {
            return (
                consumed,
                Some(Err(LineTooLong {
                    limit: self.max_line,
                })),
            );
        }
        (consumed, Some(Ok(line)))
    }

    /// Feeds all of `input`, calling `on_frame` for each frame in order.
    pub fn decode(&mut self, mut input: &[u8], mut on_frame: impl FnMut(Frame)) {
        while !input.is_empty() {
            let (n, frame) = self.decode_next(input);
            input = &input[n..];
            if let Some(frame) = frame {
                on_frame(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Result<Vec<u8>, LineTooLong>> {
        let mut out = Vec::new();
        codec.decode(input, |f| out.push(f));
        out
    }

    #[test]
    fn lf_and_crlf_end_lines() {
        let mut c = LineCodec::new(100);
        let got = decode_all(&mut c, b"one\ntwo\r\nthree");
        assert_eq!(got, vec![Ok(b"one".to_vec()), Ok(b"two".to_vec())]);
        assert_eq!(c.buffered(), 5);
        assert_eq!(decode_all(&mut c, b"\n"), vec![Ok(b"three".to_vec())]);
        assert_eq!(decode_all(&mut c, b"\n"), vec![Ok(Vec::new())]);
    }

    #[test]
    fn long_lines_are_dropped_to_their_newline_with_one_error() {
        let mut c = LineCodec::new(10);
        let mut got = decode_all(&mut c, b"ok\n0123456789AB");
        got.extend(decode_all(&mut c, &[b'x'; 10_000]));
        assert!(c.buffered() == 0, "nothing of the long line is held");
        got.extend(decode_all(&mut c, b"tail\nafter\n"));
        assert_eq!(
            got,
            vec![
                Ok(b"ok".to_vec()),
                Err(LineTooLong { limit: 10 }),
                Ok(b"after".to_vec())
            ]
        );
    }

    #[test]
    fn limit_is_exact() {
        let mut c = LineCodec::new(5);
        assert_eq!(
            decode_all(&mut c, b"12345\r\n"),
            vec![Ok(b"12345".to_vec())]
        );
        assert_eq!(
            decode_all(&mut c, b"123456\r\n"),
            vec![Err(LineTooLong { limit: 5 })]
        );
        assert_eq!(
            decode_all(&mut c, b"12345\r\r\n"),
            vec![Err(LineTooLong { limit: 5 })]
        );
    }

    proptest! {
        /// Any chunking of the input gives the same lines.
        #[test]
        fn any_chunking_gives_the_same_lines(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let whole = decode_all(&mut LineCodec::new(16), &input);
            let mut codec = LineCodec::new(16);
            let mut got = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort();
            let mut start = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                got.extend(decode_all(&mut codec, &input[start..cut]));
                start = cut;
            }
            prop_assert_eq!(got, whole);
            prop_assert!(codec.buffered() <= 17);
        }
    }
}
