use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use switchboard_proto::Bus;

use crate::ReactorHandle;

/// A [`Bus`] between the reactors of one process: one log that every
/// member appends to and reads all of, in one order, each at its own pace.
///
/// An append takes a lock for as long as it takes to copy out what the
/// member missed (reference-counted items: a pointer each) and push one
/// item; the others are woken through their reactor's control socket
/// ([`ReactorHandle::notify`]), which every poller backend watches, and
/// only when they are not already due to look: under load a reactor is
/// woken about once per turn, not once per item. An item is dropped once
/// every member has read it.
pub struct ThreadBus<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    log: Mutex<Log<T>>,
    /// Items ever appended: lets a member see without the lock that it has
    /// nothing to read.
    appended: AtomicU64,
    /// The number of the oldest item some member has not read (the log's
    /// base), for [`Bus::is_congested`] without the lock.
    oldest: AtomicU64,
    /// Per member: woken and not yet looked since.
    notified: Vec<AtomicBool>,
    /// Per member: how to wake it (set once its reactor exists).
    wakers: OnceLock<Vec<ReactorHandle>>,
}

struct Log<T> {
    items: VecDeque<T>,
    /// The number of the first item in `items`.
    base: u64,
    /// Per member: the number of the next item it reads.
    cursors: Vec<u64>,
}

/// One member's end of a [`ThreadBus`].
pub struct BusMember<T> {
    inner: Arc<Inner<T>>,
    index: usize,
    /// Items this member has read (its cursor, without the lock).
    read: u64,
}

/// Unread items past which [`Bus::is_congested`] holds: about a turn of
/// a few busy clients' lines, a few MiB at most.
pub const CONGESTED: u64 = 4096;

impl<T: Clone + Send> ThreadBus<T> {
    /// A bus of `members` members, none woken until [`ThreadBus::wake_with`].
    pub fn new(members: usize) -> Self {
        ThreadBus {
            inner: Arc::new(Inner {
                log: Mutex::new(Log {
                    items: VecDeque::new(),
                    base: 0,
                    cursors: vec![0; members],
                }),
                appended: AtomicU64::new(0),
                oldest: AtomicU64::new(0),
                notified: (0..members).map(|_| AtomicBool::new(false)).collect(),
                wakers: OnceLock::new(),
            }),
        }
    }

    /// Member `index`'s end.
    pub fn member(&self, index: usize) -> BusMember<T> {
        assert!(index < self.inner.notified.len());
        BusMember {
            inner: self.inner.clone(),
            index,
            read: 0,
        }
    }

    /// Appends `items`, read by no member yet: what a link to other
    /// processes brings in (see [`Cluster`](crate::Cluster)).
    pub fn append(&self, items: impl IntoIterator<Item = T>) {
        let mut log = (self.inner.log.lock()).unwrap_or_else(PoisonError::into_inner);
        let before = log.items.len();
        log.items.extend(items);
        let added = (log.items.len() - before) as u64;
        self.inner.appended.fetch_add(added, Ordering::Release);
        drop(log);
        // As in `publish`: either a member sees these or it is woken.
        fence(Ordering::SeqCst);
        self.inner.wake_all_but(None);
    }

    /// Whether the slowest member has more than `CONGESTED` items left
    /// to read.
    pub fn is_congested(&self) -> bool {
        self.inner.is_congested()
    }

    /// Wakes member `i` through `handles[i]` from now on.
    pub fn wake_with(&self, handles: Vec<ReactorHandle>) {
        assert_eq!(handles.len(), self.inner.notified.len());
        let _ = self.inner.wakers.set(handles);
    }
}

impl<T> Inner<T> {
    fn is_congested(&self) -> bool {
        let appended = self.appended.load(Ordering::Acquire);
        appended.saturating_sub(self.oldest.load(Ordering::Acquire)) > CONGESTED
    }

    /// Wakes every member but `skip` that is not already due to look.
    fn wake_all_but(&self, skip: Option<usize>) {
        let Some(wakers) = self.wakers.get() else {
            return;
        };
        for (i, waker) in wakers.iter().enumerate() {
            if Some(i) != skip && !self.notified[i].swap(true, Ordering::AcqRel) {
                waker.notify();
            }
        }
    }
}

impl<T: Clone> BusMember<T> {
    /// Moves what this member has not read into `out`, and pushes `item`
    /// (read by this member already) if there is one.
    fn exchange(&mut self, item: Option<T>, out: &mut Vec<T>) {
        // Freed after the lock is let go (declared first, dropped last):
        // dropping the last reference to an entry frees its strings.
        let mut read_by_all = Vec::new();
        let mut log = (self.inner.log.lock()).unwrap_or_else(PoisonError::into_inner);
        let start = usize::try_from(self.read - log.base).expect("cursor within the log");
        out.extend(log.items.range(start..).cloned());
        if let Some(item) = item {
            log.items.push_back(item);
            self.inner.appended.fetch_add(1, Ordering::Release);
        }
        let end = log.base + log.items.len() as u64;
        self.read = end;
        let was_oldest = log.cursors[self.index] == log.base;
        log.cursors[self.index] = end;
        if was_oldest {
            let oldest = log.cursors.iter().copied().min().unwrap_or(end);
            let drop = usize::try_from(oldest - log.base).expect("cursor within the log");
            read_by_all.extend(log.items.drain(..drop));
            log.base = oldest;
            self.inner.oldest.store(oldest, Ordering::Release);
        }
    }
}

impl<T: Clone + Send> Bus<T> for BusMember<T> {
    fn publish(&mut self, item: T, missed: &mut Vec<T>) {
        self.exchange(Some(item), missed);
        // Pairs with the fence in `poll`: either that member sees this item
        // or this sees it cleared its flag (and wakes it). Without both
        // fences each side may read the other's old value, and the item
        // would wait for the member's next event.
        fence(Ordering::SeqCst);
        self.inner.wake_all_but(Some(self.index));
    }

    fn is_congested(&self) -> bool {
        self.inner.is_congested()
    }

    fn poll(&mut self, out: &mut Vec<T>) {
        // Cleared before looking: an append after the look wakes us again.
        self.inner.notified[self.index].store(false, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.inner.appended.load(Ordering::Acquire) != self.read {
            self.exchange(None, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_reads_every_item_in_one_order() {
        let bus = ThreadBus::<u32>::new(3);
        let (mut a, mut b, mut c) = (bus.member(0), bus.member(1), bus.member(2));
        let mut missed = Vec::new();
        a.publish(1, &mut missed);
        b.publish(2, &mut missed);
        assert_eq!(missed, [1], "b missed a's item, which comes first");
        missed.clear();
        a.publish(3, &mut missed);
        assert_eq!(missed, [2]);
        let mut seen = Vec::new();
        c.poll(&mut seen);
        assert_eq!(seen, [1, 2, 3]);
        seen.clear();
        b.poll(&mut seen);
        assert_eq!(seen, [3]);
        let log = bus.inner.log.lock().unwrap();
        assert_eq!(log.items.len(), 0, "read by everyone: dropped");
    }

    /// A member that looks (`poll`) while another appends either sees the
    /// item or is woken for it: never neither (the store-buffer race that
    /// the fences in `publish` and `poll` close). Many rounds, started
    /// together by spinning, because the race is a matter of nanoseconds.
    #[test]
    fn a_member_looking_while_another_appends_is_never_left_unaware() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        const ROUNDS: u64 = 500_000;
        let bus = ThreadBus::<u64>::new(2);
        let (tx, mut rx) = UnixStream::pair().unwrap();
        tx.set_nonblocking(true).unwrap();
        rx.set_nonblocking(true).unwrap();
        let other = ReactorHandle::new(UnixStream::pair().unwrap().0);
        bus.wake_with(vec![ReactorHandle::new(tx), other]);
        let (mut consumer, mut publisher) = (bus.member(0), bus.member(1));
        // Round r starts when `go` is r and is over when `done` is r.
        let go = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let (g, d) = (go.clone(), done.clone());
        let appender = std::thread::spawn(move || {
            let mut missed = Vec::new();
            for round in 1..=ROUNDS {
                while g.load(Ordering::Acquire) != round {
                    std::hint::spin_loop();
                }
                publisher.publish(round, &mut missed);
                missed.clear();
                d.store(round, Ordering::Release);
            }
        });
        let (mut lost, mut seen) = (0, Vec::new());
        for round in 1..=ROUNDS {
            // As after a wake-up not yet looked at: no byte due for us.
            bus.inner.notified[0].store(true, Ordering::SeqCst);
            go.store(round, Ordering::Release);
            seen.clear();
            // A delay that sweeps the look across the append.
            for _ in 0..round % 512 {
                std::hint::spin_loop();
            }
            consumer.poll(&mut seen);
            while done.load(Ordering::Acquire) != round {
                std::hint::spin_loop();
            }
            let mut bytes = [0u8; 8];
            if seen.is_empty() && rx.read(&mut bytes).is_err() {
                lost += 1;
            }
            consumer.poll(&mut seen); // catch up before the next round
        }
        appender.join().unwrap();
        assert_eq!(lost, 0, "lost wake-ups in {ROUNDS} rounds");
    }

    #[test]
    fn threads_appending_at_once_all_see_the_same_order() {
        const EACH: u32 = 2000;
        let bus = ThreadBus::<u32>::new(3);
        let threads: Vec<_> = (0..3u32)
            .map(|t| {
                let mut member = bus.member(t as usize);
                std::thread::spawn(move || {
                    // What this member ends up seeing: its own items where
                    // it appended them, others' where it read them.
                    let mut order = Vec::new();
                    let mut missed = Vec::new();
                    for i in 0..EACH {
                        member.publish(t * EACH + i, &mut missed);
                        order.append(&mut missed);
                        order.push(t * EACH + i);
                    }
                    while order.len() < 3 * EACH as usize {
                        member.poll(&mut order);
                        std::thread::yield_now();
                    }
                    order
                })
            })
            .collect();
        let orders: Vec<Vec<u32>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(orders[0], orders[1]);
        assert_eq!(orders[1], orders[2]);
    }
}
