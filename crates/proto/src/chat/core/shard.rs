use crate::chat::core::SessionId;
use crate::ConnId;

/// Which sessions are this thread's own, when a chat runs on several
/// threads that each hold a replica of it (see [`Replica`](crate::chat::Replica)).
///
/// Session ids are global: a connection's id is its slab key with the
/// thread's index in the low bits, so ids stay dense (the core indexes
/// sessions by them) and any thread tells at once whether a session is its
/// own and on which connection. With one thread ([`Shard::SOLE`]) a session's
/// id is its connection's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    bits: u32,
}

impl Shard {
    /// The only thread: every session is local.
    pub const SOLE: Shard = Shard { index: 0, bits: 0 };

    /// Thread `index` of `count` (at most 256).
    ///
    /// # Panics
    /// If `index >= count` or `count` is 0 or over 256.
    pub fn new(index: usize, count: usize) -> Shard {
        assert!(
            (1..=256).contains(&count) && index < count,
            "shard {index} of {count}"
        );
        Shard {
            index,
            bits: usize::BITS - (count - 1).leading_zeros(),
        }
    }

    /// This thread's index.
    pub fn index(self) -> usize {
        self.index
    }

    /// The session of local connection `conn`.
    pub fn session(self, conn: ConnId) -> SessionId {
        SessionId(conn.0 << self.bits | self.index)
    }

    /// The local connection of session `id`, if it is this thread's.
    pub fn conn(self, id: SessionId) -> Option<ConnId> {
        let mask = (1 << self.bits) - 1;
        (id.0 & mask == self.index).then_some(ConnId(id.0 >> self.bits))
    }

    /// The thread that owns session `id` (its index).
    pub fn owner(self, id: SessionId) -> usize {
        id.0 & ((1 << self.bits) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_owns_its_own_sessions_only() {
        for count in [1, 2, 3, 4, 7, 8, 256] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count)).collect();
            for (i, shard) in shards.iter().enumerate() {
                for conn in [0, 1, 5, 1000] {
                    let id = shard.session(ConnId(conn));
                    assert_eq!(shard.conn(id), Some(ConnId(conn)));
                    assert_eq!(shard.owner(id), i);
                    let others = shards.iter().filter(|s| s.conn(id).is_some()).count();
                    assert_eq!(others, 1, "{count} threads: only one owns {id:?}");
                }
            }
        }
        assert_eq!(Shard::SOLE.session(ConnId(7)), SessionId(7));
    }
}
