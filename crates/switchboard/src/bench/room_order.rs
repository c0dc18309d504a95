//! The room-order check of `switchboard bench chat`: every member of a
//! room must see the room's lines in one order, whichever address (thread,
//! cluster node) each sender is on. Per-sender order, which the generator
//! checks at every client, does not show this: two members may each see
//! every sender's lines in order and still see the room's lines
//! interleaved differently.
//!
//! A few observers record which lines (sender and sequence number) they
//! received, in arrival order; afterwards every pair of them is compared on
//! the lines both recorded. Comparing only those keeps a line that one
//! observer lost, or received after its recording was capped, from counting
//! as out of order (losses are counted elsewhere). It also leaves out an
//! observer's own lines, which it never receives, so senders can observe
//! where too few clients do not send.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::net::SocketAddr;

/// Observers at most: 28 pairs to compare.
pub const OBSERVERS: usize = 8;
/// Lines recorded per observer at most (8 MB each), so that a long run's
/// memory stays bounded; later lines are not compared.
pub const CAP: usize = 1_000_000;
/// A line is recorded as one number, `sender << SEQ_BITS | seq`: a sender
/// would need 35 years at 1,000 lines/s to exceed 40 bits.
const SEQ_BITS: u32 = 40;
/// `RoomOrder::slot` of a client that does not observe.
const NOT_OBSERVER: u8 = u8::MAX;
/// `compare`'s mark for a line the other observer did not record.
const ABSENT: u32 = u32::MAX;

/// The observers and what they recorded.
pub struct RoomOrder {
    /// Per client: its observer number, or [`NOT_OBSERVER`]. A lookup per
    /// delivery, so a flat array rather than a search.
    slot: Vec<u8>,
    /// Per observer: the lines it recorded, in arrival order.
    lines: Vec<Vec<u64>>,
    cap: usize,
}

/// What the comparison found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub observers: usize,
    /// Observers whose recording reached the cap.
    pub capped: usize,
    pub cap: usize,
    /// Lines both observers of a pair recorded, summed over the pairs.
    pub compared: u64,
    /// Pairs of observers that disagree on the order of some lines.
    pub disagreeing_pairs: usize,
    /// Per pair, the fewest of the compared lines that would have to move
    /// to turn one observer's order into the other's (those outside a
    /// longest common subsequence), summed over the pairs. 0: one order.
    pub violations: u64,
}

impl Verdict {
    pub fn pairs(&self) -> usize {
        self.observers * self.observers.saturating_sub(1) / 2
    }
}

impl RoomOrder {
    /// Observers for a room of `targets.len()` clients, client i connected
    /// to `targets[i]`, of which the first `senders` send: up to
    /// [`OBSERVERS`] clients that do not send (senders too, when fewer than
    /// two do not), first one per address so that the order is compared
    /// across addresses. Each records up to `cap` lines.
    pub fn new(targets: &[SocketAddr], senders: usize, cap: usize) -> Self {
        assert!(cap < ABSENT as usize, "positions are u32");
        let clients = targets.len();
        let mut candidates: Vec<usize> = (senders.min(clients)..clients).collect();
        if candidates.len() < 2 {
            candidates.extend(0..senders.min(clients));
        }
        let mut seen = HashSet::new();
        let (mut picked, rest): (Vec<usize>, Vec<usize>) = candidates
            .into_iter()
            .partition(|&i| seen.insert(targets[i]));
        picked.truncate(OBSERVERS);
        picked.extend(rest.into_iter().take(OBSERVERS - picked.len()));
        let mut slot = vec![NOT_OBSERVER; clients];
        for (n, &client) in picked.iter().enumerate() {
            slot[client] = n as u8;
        }
        RoomOrder {
            slot,
            lines: vec![Vec::new(); picked.len()],
            cap,
        }
    }

    /// `client` received line `seq` of `sender`.
    pub fn record(&mut self, client: usize, sender: usize, seq: u64) {
        let slot = self.slot[client];
        if slot == NOT_OBSERVER {
            return;
        }
        let lines = &mut self.lines[usize::from(slot)];
        let sender = sender as u64;
        if lines.len() < self.cap && seq >> SEQ_BITS == 0 && sender >> (64 - SEQ_BITS) == 0 {
            lines.push(sender << SEQ_BITS | seq);
        }
    }

    /// Compares every pair of observers.
    pub fn verdict(&self) -> Verdict {
        let sorted: Vec<Vec<u32>> = self.lines.iter().map(|l| first_arrivals(l)).collect();
        let mut verdict = Verdict {
            observers: self.lines.len(),
            capped: self.lines.iter().filter(|l| l.len() >= self.cap).count(),
            cap: self.cap,
            ..Verdict::default()
        };
        let mut scratch = Vec::new();
        for a in 0..self.lines.len() {
            for b in a + 1..self.lines.len() {
                let (common, out_of_place) = compare(
                    (&self.lines[a], &sorted[a]),
                    (&self.lines[b], &sorted[b]),
                    &mut scratch,
                );
                verdict.compared += common;
                verdict.violations += out_of_place;
                verdict.disagreeing_pairs += usize::from(out_of_place > 0);
            }
        }
        verdict
    }
}

/// Positions in `lines` sorted by line, one per line: where it first
/// arrived (a line that arrived twice counts where it arrived first).
fn first_arrivals(lines: &[u64]) -> Vec<u32> {
    let mut at: Vec<u32> = (0..lines.len() as u32).collect();
    at.sort_unstable_by_key(|&i| (lines[i as usize], i));
    at.dedup_by_key(|i| lines[*i as usize]);
    at
}

/// Two observers' lines (with their [`first_arrivals`]): how many both
/// recorded, and how many of those are out of place. Walking A's lines in
/// A's order, their positions in B's order must rise; those on a longest
/// rising subsequence are in the same order in both, the rest are not.
fn compare(a: (&[u64], &[u32]), b: (&[u64], &[u32]), in_b: &mut Vec<u32>) -> (u64, u64) {
    // in_b[i]: the position in B of A's i-th arrival (ABSENT: B has none,
    // or A's i-th is a repeat).
    in_b.clear();
    in_b.resize(a.0.len(), ABSENT);
    let (mut i, mut j) = (0, 0);
    while i < a.1.len() && j < b.1.len() {
        let (x, y) = (a.1[i], b.1[j]);
        match a.0[x as usize].cmp(&b.0[y as usize]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                in_b[x as usize] = y;
                (i, j) = (i + 1, j + 1);
            }
        }
    }
    // Patience sorting: tails[k] is the least last element of a rising
    // subsequence of length k + 1.
    let mut tails: Vec<u32> = Vec::new();
    let mut common = 0u64;
    for &p in in_b.iter().filter(|&&p| p != ABSENT) {
        common += 1;
        let k = tails.partition_point(|&t| t < p);
        if k == tails.len() {
            tails.push(p);
        } else {
            tails[k] = p;
        }
    }
    (common, common - tails.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A room of `clients` on one address, 2 senders, observers 2, 3, ...
    fn room(clients: usize, cap: usize) -> RoomOrder {
        RoomOrder::new(&vec![addr(1); clients], 2, cap)
    }

    /// Observer `client` receives `lines` (sender, seq) in this order.
    fn receive(r: &mut RoomOrder, client: usize, lines: &[(usize, u64)]) {
        for &(sender, seq) in lines {
            r.record(client, sender, seq);
        }
    }

    #[test]
    fn observers_do_not_send_and_cover_every_address() {
        // Clients take addresses 1 and 2 in turn; 0-2 send.
        let targets: Vec<SocketAddr> = (0..20).map(|i| addr(1 + i as u16 % 2)).collect();
        let r = RoomOrder::new(&targets, 3, CAP);
        let observers: Vec<usize> = (0..20).filter(|&c| r.slot[c] != NOT_OBSERVER).collect();
        assert_eq!(observers, [3, 4, 5, 6, 7, 8, 9, 10]);
        // Addresses first: one non-sender on address 3 among many on 1.
        let mut targets = vec![addr(1); 20];
        targets[15] = addr(3);
        let r = RoomOrder::new(&targets, 3, CAP);
        assert_ne!(r.slot[15], NOT_OBSERVER);
        assert_eq!(r.lines.len(), OBSERVERS);
        // Only one client does not send: senders observe too.
        let r = RoomOrder::new(&[addr(1); 4], 3, CAP);
        assert_eq!(r.lines.len(), 4);
    }

    #[test]
    fn one_order_is_clean() {
        let mut r = room(5, CAP);
        let lines = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)];
        for client in 2..5 {
            receive(&mut r, client, &lines);
        }
        let v = r.verdict();
        assert_eq!((v.observers, v.pairs()), (3, 3));
        assert_eq!(v.compared, 15);
        assert_eq!((v.violations, v.disagreeing_pairs, v.capped), (0, 0, 0));
    }

    #[test]
    fn a_line_moved_is_one_violation_per_pair() {
        let mut r = room(5, CAP);
        receive(&mut r, 2, &[(0, 0), (0, 1), (1, 0), (1, 1)]);
        receive(&mut r, 3, &[(0, 0), (0, 1), (1, 0), (1, 1)]);
        // Per sender in order, but (1, 0) before both of sender 0's.
        receive(&mut r, 4, &[(1, 0), (0, 0), (0, 1), (1, 1)]);
        let v = r.verdict();
        assert_eq!(
            (v.violations, v.disagreeing_pairs),
            (2, 2),
            "4 against 2 and 3"
        );
    }

    #[test]
    fn only_lines_both_recorded_are_compared() {
        let mut r = room(4, CAP);
        // 3 lost (0, 1) and did not record (1, 1) (it came too late, say).
        receive(&mut r, 2, &[(0, 0), (0, 1), (1, 0), (1, 1), (0, 2)]);
        receive(&mut r, 3, &[(0, 0), (1, 0), (0, 2)]);
        let v = r.verdict();
        assert_eq!((v.compared, v.violations), (3, 0));
    }

    #[test]
    fn a_repeated_line_counts_where_it_first_arrived() {
        let mut r = room(4, CAP);
        receive(&mut r, 2, &[(0, 0), (1, 0), (0, 0)]);
        receive(&mut r, 3, &[(0, 0), (1, 0)]);
        let v = r.verdict();
        assert_eq!((v.compared, v.violations), (2, 0));
    }

    #[test]
    fn recording_stops_at_the_cap() {
        let mut r = room(4, 3);
        receive(&mut r, 2, &[(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
        receive(&mut r, 3, &[(0, 0), (0, 1), (1, 0)]);
        let v = r.verdict();
        assert_eq!(r.lines[0].len(), 3, "nothing past the cap");
        assert_eq!((v.capped, v.compared, v.violations), (2, 2, 0));
    }
}
