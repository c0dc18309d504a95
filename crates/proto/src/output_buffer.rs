use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::{Buf, Bytes, BytesMut};

/// One connection's unsent output (a select() loop's `message_queues[s]`), done so
/// that partial writes lose nothing and fan-out copies nothing large.
///
/// Small writes coalesce into a private tail buffer; large shared buffers
/// ([`Bytes`]) are queued by reference. [`OutputBuffer::write_to`] sends as
/// much as one `write`/`writev` call takes and keeps the rest.
///
/// The buffer itself does not enforce a limit: the owner checks
/// [`OutputBuffer::len`] against its [`OutputLimits`](crate::OutputLimits)
/// after each push, so the policy stays in one place.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    /// Frozen chunks, oldest first; all of them precede `tail`.
    chunks: VecDeque<Bytes>,
    /// Where small pushes are copied to, after every chunk in `chunks`.
    tail: BytesMut,
    /// Bytes copied into `tail` since it was last emptied: a bound on its
    /// allocation that, unlike `BytesMut::capacity`, does not shrink as
    /// sent bytes are split or advanced off its front.
    tail_pushed: usize,
    len: usize,
}

impl OutputBuffer {
    /// Shared buffers up to this size are copied rather than queued by
    /// reference: a short copy is cheaper than an extra iovec and refcount
    /// (always sharing cost 5–17 % of the chat fan-out rate at 1,000
    /// clients; docs/BENCHMARKS.md, "Copy or share short lines?").
    pub const COPY_BELOW: usize = 256;
    /// Most iovecs passed to one `writev` (Linux allows 1024; 64 already
    /// covers far more bytes than a socket send buffer takes at once).
    pub const MAX_IOVECS: usize = 64;
    /// An emptied tail keeps its allocation only up to this size, so that a
    /// burst (a long reply, a join storm) does not pin memory on an idle
    /// connection for the rest of its life.
    pub const KEEP_CAPACITY: usize = 4 * 1024;

    /// An empty buffer; allocates nothing until the first push.
    pub fn new() -> Self {
        Self::default()
    }

    /// Unsent bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything has been sent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a copy of `data`.
    pub fn push_slice(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.tail_pushed += data.len();
        self.len += data.len();
    }

    /// Queues a shared buffer, by reference unless it is small (then the
    /// reference count is not touched at all: in a fan-out to 1,000
    /// clients, cloning and dropping it cost as much as the copy).
    pub fn push_shared(&mut self, data: &Bytes) {
        if data.len() < Self::COPY_BELOW {
            return self.push_slice(data);
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += data.len();
        self.chunks.push_back(data.clone());
    }

    /// Makes one write (vectored when there is more than one piece) of the
    /// queued bytes to `w` and drops what it accepted. Returns the number of
    /// bytes written; `WouldBlock` and other errors come back unchanged and
    /// leave the buffer as it was.
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<usize> {
        if self.is_empty() {
            return Ok(0);
        }
        let n = if self.chunks.is_empty() {
            w.write(&self.tail)?
        } else {
            let mut slices = [IoSlice::new(&[]); Self::MAX_IOVECS];
            let mut count = 0;
            for chunk in self.chunks.iter().take(Self::MAX_IOVECS) {
                slices[count] = IoSlice::new(chunk);
                count += 1;
            }
            if count < Self::MAX_IOVECS && !self.tail.is_empty() {
                slices[count] = IoSlice::new(&self.tail);
                count += 1;
            }
            w.write_vectored(&slices[..count])?
        };
        self.consume(n);
        Ok(n)
    }

    /// Drops the first `n` queued bytes (they were sent). Once everything
    /// is sent, a tail allocation over [`OutputBuffer::KEEP_CAPACITY`] is
    /// given back.
    ///
    /// # Panics
    /// If `n` is larger than [`OutputBuffer::len`].
    pub fn consume(&mut self, mut n: usize) {
        assert!(n <= self.len, "consumed {n} of {} queued bytes", self.len);
        if n == self.len {
            // All sent, the usual case. Checked before the tail is
            // advanced: after, BytesMut counts only what lies past the
            // consumed bytes, which is nothing (it would reclaim the whole
            // allocation on the next push).
            self.chunks.clear();
            // A tail that took more than KEEP_CAPACITY may hold an
            // allocation that big even when sent in pieces, which leave
            // `capacity()` counting only what lies past them.
            if self.tail_pushed > Self::KEEP_CAPACITY || self.tail.capacity() > Self::KEEP_CAPACITY
            {
                self.tail = BytesMut::new();
            } else {
                self.tail.clear();
            }
            self.tail_pushed = 0;
            self.len = 0;
            return;
        }
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.tail.advance(n);
                break;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.tail_pushed = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A writer that takes at most `limit` bytes per call, or refuses.
    struct Trickle {
        got: Vec<u8>,
        limit: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.limit == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.limit);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.limit == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut left = self.limit;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.got.extend_from_slice(&b[..take]);
                left -= take;
                n += take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn trickle(limit: usize) -> Trickle {
        Trickle {
            got: Vec::new(),
            limit,
            calls: 0,
        }
    }

    #[test]
    fn partial_writes_keep_the_remainder() {
        let mut out = OutputBuffer::new();
        out.push_slice(b"hello, ");
        out.push_shared(&Bytes::from(vec![b'x'; 1000]));
        out.push_slice(b"bye");
        let mut w = trickle(10);
        assert_eq!(out.write_to(&mut w).unwrap(), 10);
        assert_eq!(out.len(), 1010 - 10);
        while !out.is_empty() {
            out.write_to(&mut w).unwrap();
        }
        let mut want = b"hello, ".to_vec();
        want.extend(vec![b'x'; 1000]);
        want.extend(b"bye");
        assert_eq!(w.got, want);
    }

    #[test]
    fn would_block_leaves_everything_queued() {
        let mut out = OutputBuffer::new();
        out.push_slice(b"abc");
        let err = out.write_to(&mut trickle(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn empty_buffer_makes_no_call() {
        let mut w = trickle(10);
        assert_eq!(OutputBuffer::new().write_to(&mut w).unwrap(), 0);
        assert_eq!(w.calls, 0);
    }

    #[test]
    fn many_large_chunks_go_in_one_vectored_call() {
        let mut out = OutputBuffer::new();
        let line = Bytes::from(vec![b'y'; OutputBuffer::COPY_BELOW]);
        for _ in 0..10 {
            out.push_shared(&line);
        }
        let mut w = trickle(usize::MAX);
        out.write_to(&mut w).unwrap();
        assert_eq!((w.calls, out.len()), (1, 0));
        assert_eq!(w.got.len(), 10 * OutputBuffer::COPY_BELOW);
    }

    #[test]
    fn big_tail_is_released_once_drained() {
        let mut out = OutputBuffer::new();
        out.push_slice(&vec![0u8; 1 << 20]);
        let mut w = trickle(usize::MAX);
        out.write_to(&mut w).unwrap();
        assert!(out.is_empty());
        // The next push gets a small allocation, not the drained megabyte
        // back (which BytesMut would reclaim, reporting capacity 0 till then).
        out.push_slice(b"x");
        assert!(out.tail.capacity() <= OutputBuffer::KEEP_CAPACITY);
    }

    #[test]
    fn big_tail_sent_in_pieces_is_released_too() {
        let mut out = OutputBuffer::new();
        out.push_slice(&vec![0u8; 30_000]);
        // Sent 1,000 bytes at a time, the tail's `capacity()` ends up
        // counting only what lies past the sent bytes: small.
        let mut w = trickle(1000);
        while !out.is_empty() {
            out.write_to(&mut w).unwrap();
        }
        // A push too big for what `capacity()` shows makes BytesMut
        // reclaim its whole allocation, if it still holds the old one.
        out.push_slice(&[0u8; 5000]);
        assert!(
            out.tail.capacity() < 30_000,
            "the 30 KB allocation was kept"
        );
    }

    #[test]
    fn small_tail_is_kept_for_reuse() {
        let mut out = OutputBuffer::new();
        out.push_slice(&[0u8; 1000]);
        out.write_to(&mut trickle(usize::MAX)).unwrap();
        out.push_slice(b"x");
        assert!(out.tail.capacity() >= 1000, "reused, not reallocated");
    }

    #[test]
    #[should_panic(expected = "consumed")]
    fn consuming_more_than_queued_is_a_bug() {
        OutputBuffer::new().consume(1);
    }

    proptest! {
        /// Whatever mix of pushes and however the writer splits them, the
        /// bytes come out once each, in order, and `len` stays exact.
        #[test]
        fn any_pushes_and_partial_writes_preserve_the_stream(
            ops in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..600), 0usize..700),
                1..40,
            )
        ) {
            let mut out = OutputBuffer::new();
            let mut want = Vec::new();
            let mut w = trickle(0);
            for (shared, data, limit) in ops {
                want.extend_from_slice(&data);
                if shared {
                    out.push_shared(&Bytes::from(data));
                } else {
                    out.push_slice(&data);
                }
                w.limit = limit;
                let _ = out.write_to(&mut w);
                prop_assert_eq!(out.len(), want.len() - w.got.len());
            }
            w.limit = 1 << 20;
            while !out.is_empty() {
                out.write_to(&mut w).unwrap();
            }
            prop_assert_eq!(w.got, want);
        }
    }
}
