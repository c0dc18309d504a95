use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Deadlines for many connections without a thread or a timer object each.
///
/// Entries are never removed early: activity only moves a connection's real
/// deadline later, and an entry that fires is checked against the owner's
/// current state (see the reactor), then dropped or re-armed. That keeps the
/// hot path (every read) free of heap operations; a connection costs at most
/// one entry per timeout period.
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl TimerQueue {
    /// Arms a deadline `when` for `key`.
    pub fn push(&mut self, when: Instant, key: usize) {
        self.heap.push(Reverse((when, key)));
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((when, _))| *when)
    }

    /// Removes and returns one entry whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, usize)> {
        match self.heap.peek() {
            Some(Reverse((when, _))) if *when <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Keeps only the entries `keep` says are still wanted.
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, usize) -> bool) {
        self.heap.retain(|Reverse((when, key))| keep(*when, *key));
    }

    /// Number of armed entries (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.push(t0 + Duration::from_secs(3), 3);
        q.push(t0 + Duration::from_secs(1), 1);
        q.push(t0 + Duration::from_secs(2), 2);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(q.pop_expired(t0), None);
        let now = t0 + Duration::from_secs(2);
        assert_eq!(q.pop_expired(now).map(|e| e.1), Some(1));
        assert_eq!(q.pop_expired(now).map(|e| e.1), Some(2));
        assert_eq!(q.pop_expired(now), None);
        assert_eq!(q.len(), 1);
    }
}
