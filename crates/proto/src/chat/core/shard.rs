use crate::chat::core::SessionId;
use crate::ConnId;

/// Which sessions are this thread's own, when a chat runs on several
/// threads that each hold a replica of it (see [`Replica`](crate::chat::Replica)).
///
/// Session ids are global: a connection's id is its slab key with the
/// thread's index in the low bits, so ids stay dense (the core indexes
/// sessions by them) and any thread tells at once whether a session is its
/// own and on which connection. With one thread ([`Shard::SOLE`]) a session's
/// id is its connection's. In a cluster of processes ([`Shard::on_node`]),
/// the lowest [`Shard::NODE_BITS`] bits name the process (its node), and
/// the thread's bits come above them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    bits: u32,
    node: usize,
    node_bits: u32,
}

impl Shard {
    /// The only thread: every session is local.
    pub const SOLE: Shard = Shard {
        index: 0,
        bits: 0,
        node: 0,
        node_bits: 0,
    };

    /// Bits of a session id that name its node in a cluster: at most 16
    /// nodes, so that ids stay dense enough for the core's session table.
    pub const NODE_BITS: u32 = 4;

    /// Most nodes in a cluster.
    pub const MAX_NODES: usize = 1 << Self::NODE_BITS;

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
            node: 0,
            node_bits: 0,
        }
    }

    /// This thread, on node `node` of a cluster (under [`Shard::MAX_NODES`]).
    pub fn on_node(self, node: usize) -> Shard {
        assert!(node < Self::MAX_NODES, "node {node}");
        Shard {
            node,
            node_bits: Self::NODE_BITS,
            ..self
        }
    }

    /// This process's node in a cluster (0 outside one).
    pub fn node(self) -> usize {
        self.node
    }

    /// The node of session `id`.
    pub fn node_of(self, id: SessionId) -> usize {
        id.0 & ((1 << self.node_bits) - 1)
    }

    /// Whether session `id` is on this process (any of its threads).
    pub fn is_this_node(self, id: SessionId) -> bool {
        self.node_of(id) == self.node
    }

    /// This thread's index.
    pub fn index(self) -> usize {
        self.index
    }

    /// The session of local connection `conn`.
    pub fn session(self, conn: ConnId) -> SessionId {
        SessionId((conn.0 << self.bits | self.index) << self.node_bits | self.node)
    }

    /// The local connection of session `id`, if it is this thread's.
    pub fn conn(self, id: SessionId) -> Option<ConnId> {
        let local = id.0 >> self.node_bits;
        let mask = (1 << self.bits) - 1;
        (self.is_this_node(id) && local & mask == self.index).then_some(ConnId(local >> self.bits))
    }

    /// The thread that owns session `id` (its index).
    pub fn owner(self, id: SessionId) -> usize {
        (id.0 >> self.node_bits) & ((1 << self.bits) - 1)
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

    #[test]
    fn in_a_cluster_a_session_is_its_nodes_and_threads_only() {
        let (a, b) = (Shard::new(1, 2).on_node(3), Shard::new(1, 2).on_node(5));
        let id = a.session(ConnId(9));
        assert_eq!(a.conn(id), Some(ConnId(9)));
        assert_eq!(b.conn(id), None, "same thread and connection, other node");
        assert_eq!(Shard::new(0, 2).on_node(3).conn(id), None);
        assert!(a.is_this_node(id) && !b.is_this_node(id));
        assert_eq!((b.node_of(id), a.owner(id)), (3, 1));
    }
}
