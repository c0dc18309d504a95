//! RFC 6455 framing for the web front-end: `tungstenite`'s
//! `WebSocketContext` parses the client's frames (masking, fragments,
//! UTF-8, size limits, ping and close replies) from bytes the reactor read,
//! and writes into bytes the reactor sends, so the reactor keeps owning the
//! socket. Frames to clients are built here with tungstenite's
//! `FrameHeader`: they are rendered once and shared by every recipient.

use std::io::{self, Read, Write};

use tungstenite::error::{CapacityError, Error};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};
use tungstenite::protocol::{Message, Role, WebSocketConfig, WebSocketContext};

/// What reading a client's input gave.
#[derive(Debug)]
pub(crate) enum WsInput {
    /// A complete text message.
    Text(tungstenite::Utf8Bytes),
    /// A ping or pong: the client is alive (pongs are sent for us).
    Control,
    /// Nothing complete yet.
    NeedMore,
    /// The client closed (its close frame is answered): close the
    /// connection.
    Closed,
    /// The client broke the protocol: close with this code and reason.
    Fail(CloseCode, &'static str),
}

/// The client side's frames of one WebSocket connection.
#[derive(Debug)]
pub(crate) struct WsCodec {
    context: WebSocketContext,
}

/// A `Read + Write` view of the bytes at hand: tungstenite reads the
/// client's input from it and writes its replies (pongs, close) into it.
struct Pipe<'a> {
    input: &'a [u8],
    read: usize,
    output: &'a mut Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.read..];
        if rest.is_empty() {
            // More may come: never report end of file.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WsCodec {
    /// A server's codec that refuses messages (and frames) over
    /// `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        let config = WebSocketConfig::default()
            // Eagerly allocated per connection: small, and grown for the
            // rare long message.
            .read_buffer_size(1024)
            // Replies (pongs, close) go out at once.
            .write_buffer_size(0)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        WsCodec {
            context: WebSocketContext::new(Role::Server, Some(config)),
        }
    }

    /// Reads the next message from `input`, appending any reply to
    /// `output`. Returns how many bytes of `input` it took.
    pub fn read(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, WsInput) {
        let mut pipe = Pipe {
            input,
            read: 0,
            output,
        };
        let result = self.context.read(&mut pipe);
        // Replies to pings and closes are written on the next call unless
        // flushed now. A flush error is that of a closed context, which
        // the read result reports too.
        let _ = self.context.flush(&mut pipe);
        let input = match result {
            Ok(Message::Text(text)) => WsInput::Text(text),
            Ok(Message::Binary(_)) => {
                WsInput::Fail(CloseCode::Unsupported, "binary frames are not supported")
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => WsInput::Control,
            Ok(Message::Close(_)) | Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                WsInput::Closed
            }
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => WsInput::NeedMore,
            Err(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                WsInput::Fail(CloseCode::Size, "message too long")
            }
            Err(Error::Utf8(_)) => WsInput::Fail(CloseCode::Invalid, "invalid UTF-8"),
            Err(Error::Protocol(_) | Error::Capacity(_)) => {
                WsInput::Fail(CloseCode::Protocol, "protocol error")
            }
            Err(_) => WsInput::Fail(CloseCode::Error, "internal error"),
        };
        (pipe.read, input)
    }
}

/// Appends a final text frame holding `payload` (unmasked: from the
/// server).
pub(crate) fn text_frame(payload: &[u8], out: &mut Vec<u8>) {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    // Writing to a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Appends each CR LF-terminated line of `lines` as a text frame of its
/// own, without its line ending (IRCv3's `text.ircv3.net`).
pub(crate) fn line_frames(lines: &[u8], out: &mut Vec<u8>) {
    for line in lines.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            text_frame(line, out);
        }
    }
}

/// Appends a close frame with `code` and `reason`.
pub(crate) fn close_frame(code: CloseCode, reason: &str, out: &mut Vec<u8>) {
    let frame = Frame::close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = frame.format(out);
}

/// Appends a ping frame.
pub(crate) fn ping_frame(out: &mut Vec<u8>) {
    let _ = Frame::ping(&b"switchboard"[..]).format(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's masked frame (mask 1 2 3 4).
    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn reads_text_across_splits_and_answers_pings() {
        let mut codec = WsCodec::new(100);
        let mut out = Vec::new();
        let mut input = masked(0x9, b"hi");
        input.extend(masked(0x1, b"hello"));
        let (n, got) = codec.read(&input[..3], &mut out);
        assert!(matches!(got, WsInput::NeedMore));
        let rest = &input[n..];
        let (n2, got) = codec.read(rest, &mut out);
        assert!(matches!(got, WsInput::Control));
        assert_eq!(out, [0x8a, 2, b'h', b'i'], "a pong with the ping's data");
        let (_, got) = codec.read(&rest[n2..], &mut out);
        assert!(matches!(got, WsInput::Text(t) if t.as_str() == "hello"));
    }

    #[test]
    fn refuses_binary_unmasked_oversized_and_bad_utf8() {
        let fail = |input: Vec<u8>| match WsCodec::new(8).read(&input, &mut Vec::new()).1 {
            WsInput::Fail(code, _) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(fail(masked(0x2, b"x")), CloseCode::Unsupported);
        assert_eq!(fail(masked(0x1, b"123456789")), CloseCode::Size);
        assert_eq!(fail(masked(0x1, b"\xff")), CloseCode::Invalid);
        assert_eq!(fail(vec![0x81, 1, b'x']), CloseCode::Protocol);
    }

    #[test]
    fn reassembles_fragments_around_a_ping() {
        let mut codec = WsCodec::new(100);
        let mut out = Vec::new();
        let mut first = masked(0x1, b"hel");
        first[0] &= 0x7f; // not final
        let mut input = first;
        input.extend(masked(0x9, b"p"));
        input.extend(masked(0x0, b"lo"));
        let (n, got) = codec.read(&input, &mut out);
        assert!(matches!(got, WsInput::Control), "{got:?}");
        let (_, got) = codec.read(&input[n..], &mut out);
        assert!(matches!(got, WsInput::Text(t) if t.as_str() == "hello"));
    }

    #[test]
    fn frames_lines_one_per_frame() {
        let mut out = Vec::new();
        line_frames(b"PING :a\r\nPONG b\r\n", &mut out);
        assert_eq!(out, b"\x81\x07PING :a\x81\x06PONG b");
    }
}
