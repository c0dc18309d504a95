/// A log shared by several replicas of one state machine (the chat, on
/// several threads): each appends what its own clients do and applies, in
/// the log's one order, what the others appended. Sans-IO like the rest of
/// this crate: the implementation (a lock and a wake-up between threads, a
/// network link) lives with the reactor.
pub trait Bus<T>: Send {
    /// Appends `item`, first moving into `missed`, in order, every item
    /// before it that this member has not seen: applied before `item`,
    /// they give this member the state the log has where `item` stands.
    fn publish(&mut self, item: T, missed: &mut Vec<T>);

    /// Moves into `out`, in order, what the others appended since this
    /// member last looked.
    fn poll(&mut self, out: &mut Vec<T>);

    /// Whether the log holds more items than its bound that some member
    /// has not read yet: a member should take in no new work until the
    /// slowest catches up (TCP backpressure on its clients).
    fn is_congested(&self) -> bool {
        false
    }

    /// Hands the state this member has now (JSON of a
    /// [`CoreSnapshot`](crate::chat::core::CoreSnapshot)) to whoever asked
    /// for it under `token`: a node joining a cluster. Only buses that
    /// span processes have anyone to hand it to.
    fn share_state(&mut self, token: &str, state: &str) {
        let _ = (token, state);
    }
}
