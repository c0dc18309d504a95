use std::fmt;

/// Identifies one connection for as long as it is open.
///
/// The reactor hands these out; an id may be reused after its connection has
/// been closed and [`Service::handle_close`](crate::Service::handle_close)
/// has been called for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub usize);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
