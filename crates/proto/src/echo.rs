use crate::{CloseReason, ConnId};
use crate::{Io, OutputLimits, OverflowPolicy, Service};

/// RFC 862 echo: every byte received is sent back, in order, unchanged.
///
/// Backpressure policy: [`OverflowPolicy::PauseReading`]. A client that
/// writes and never reads makes the reactor stop reading it once its unsent
/// echo passes the high-water mark, so the server's memory stays bounded and
/// the client gets every byte when it finally reads. On EOF (half-close)
/// everything received is still echoed before the connection closes.
#[derive(Clone, Debug)]
pub struct EchoService {
    limits: OutputLimits,
}

impl EchoService {
    /// Default high-water mark: 256 KiB of unsent echo per connection.
    pub const DEFAULT_HIGH_WATER: usize = 256 * 1024;

    /// An echo service that pauses a connection above `high_water` unsent
    /// bytes and resumes it below a quarter of that.
    pub fn new(high_water: usize) -> Self {
        let high_water = high_water.max(1);
        EchoService {
            limits: OutputLimits {
                high_water,
                low_water: high_water / 4,
                policy: OverflowPolicy::PauseReading,
                grace: std::time::Duration::ZERO,
            },
        }
    }
}

impl Default for EchoService {
    fn default() -> Self {
        Self::new(Self::DEFAULT_HIGH_WATER)
    }
}

impl Service for EchoService {
    type Listener = ();

    fn output_limits(&self) -> OutputLimits {
        self.limits
    }

    fn writes_through(&self) -> bool {
        true
    }

    fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io) {
        io.send(conn, data);
    }

    fn handle_eof(&mut self, conn: ConnId, io: &mut impl Io) {
        // Half-close: what was received is still owed; the reactor closes
        // only after flushing it.
        io.close(conn, CloseReason::PeerClosed);
    }

    fn handle_datagram(&mut self, data: &[u8], reply: &mut Vec<u8>) -> bool {
        // RFC 862 answers every datagram, an empty one too.
        reply.extend_from_slice(data);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryIo;

    #[test]
    fn echoes_every_byte_in_order_binary_safe() {
        let mut echo = EchoService::default();
        let mut io = MemoryIo::default();
        let conn = ConnId(1);
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for chunk in data.chunks(333) {
            echo.handle_data(conn, chunk, &mut io);
        }
        assert_eq!(io.output(conn), &data[..]);
    }

    #[test]
    fn connections_are_independent() {
        let mut echo = EchoService::default();
        let mut io = MemoryIo::default();
        echo.handle_data(ConnId(1), b"one", &mut io);
        echo.handle_data(ConnId(2), b"two", &mut io);
        assert_eq!(io.output(ConnId(1)), b"one");
        assert_eq!(io.output(ConnId(2)), b"two");
    }

    #[test]
    fn eof_closes_after_flush_with_peer_closed() {
        let mut echo = EchoService::default();
        let mut io = MemoryIo::default();
        echo.handle_data(ConnId(1), b"last words", &mut io);
        echo.handle_eof(ConnId(1), &mut io);
        assert_eq!(io.output(ConnId(1)), b"last words");
        assert_eq!(io.closed(ConnId(1)), Some(CloseReason::PeerClosed));
    }

    #[test]
    fn watermarks_pause_reading_with_hysteresis() {
        let limits = EchoService::new(1000).output_limits();
        assert_eq!(limits.policy, OverflowPolicy::PauseReading);
        assert_eq!((limits.high_water, limits.low_water), (1000, 250));
        // A zero mark would pause forever; it is clamped.
        assert!(EchoService::new(0).output_limits().high_water >= 1);
    }

    #[test]
    fn datagrams_are_echoed() {
        let mut echo = EchoService::default();
        let mut reply = Vec::new();
        assert!(echo.handle_datagram(b"ping", &mut reply));
        assert_eq!(reply, b"ping");
        reply.clear();
        assert!(
            echo.handle_datagram(b"", &mut reply),
            "an empty one is answered"
        );
    }
}
