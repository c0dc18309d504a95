//! Limits per peer address, so that one host cannot take what is meant for
//! many: connections held at once, connections opened per second, and UDP
//! replies sent per second (a forged source must not turn the server into
//! a flood aimed at someone else).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// What the limits per address are (`None`: no limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressLimits {
    /// Connections one address may hold at once.
    pub max_connections: Option<u32>,
    /// Connections one address may open per second.
    pub connects_per_sec: Option<u32>,
    /// UDP replies one address may be sent per second.
    pub replies_per_sec: Option<u32>,
    /// Addresses the connection limits do not apply to (by default
    /// loopback: local tools and benchmarks).
    pub exempt: Vec<IpNet>,
}

impl Default for AddressLimits {
    fn default() -> Self {
        AddressLimits {
            max_connections: Some(32),
            connects_per_sec: Some(20),
            replies_per_sec: Some(1000),
            exempt: vec![
                "127.0.0.0/8".parse().expect("a network"),
                "::1/128".parse().expect("a network"),
            ],
        }
    }
}

/// Why an address was refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressRefusal {
    /// It holds as many connections as it may.
    TooMany,
    /// It opened as many as it may this second.
    TooFast,
}

/// The state behind [`AddressLimits`]: live connections per address (an
/// entry per address with a connection, so bounded by the connections) and
/// two [`RateWindows`].
pub(crate) struct AddressTable {
    limits: AddressLimits,
    held: HashMap<IpAddr, u32>,
    connects: RateWindows,
    replies: RateWindows,
}

impl AddressTable {
    pub fn new(limits: AddressLimits) -> Self {
        AddressTable {
            limits,
            held: HashMap::new(),
            connects: RateWindows::new(),
            replies: RateWindows::new(),
        }
    }

    /// New limits, from now on; the connections held stay counted.
    pub fn set_limits(&mut self, limits: AddressLimits) {
        self.limits = limits;
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.limits.exempt.iter().any(|net| net.contains(&ip))
    }

    /// Counts a new connection from `ip`, or says why it must be refused.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), AddressRefusal> {
        let exempt = self.exempt(ip);
        let ip = host(ip);
        if !exempt {
            let held = self.held.get(&ip).copied().unwrap_or(0);
            if self.limits.max_connections.is_some_and(|max| held >= max) {
                return Err(AddressRefusal::TooMany);
            }
            if let Some(rate) = self.limits.connects_per_sec {
                if !self.connects.allow(ip, rate, now) {
                    return Err(AddressRefusal::TooFast);
                }
            }
        }
        *self.held.entry(ip).or_default() += 1;
        Ok(())
    }

    /// A connection from `ip` admitted earlier is gone.
    pub fn release(&mut self, ip: IpAddr) {
        let ip = host(ip);
        if let Some(held) = self.held.get_mut(&ip) {
            *held -= 1;
            if *held == 0 {
                self.held.remove(&ip);
            }
        }
    }

    /// Whether `ip` may be sent one more UDP reply now.
    pub fn allow_reply(&mut self, ip: IpAddr, now: Instant) -> bool {
        match self.limits.replies_per_sec {
            Some(rate) => self.replies.allow(host(ip), rate, now),
            None => true,
        }
    }
}

/// What counts as one host: an IPv4 address, or an IPv6 /64 (one host or
/// network is routinely given a /64, so counting its 2^64 addresses one by
/// one would limit nothing).
fn host(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`: the same
/// host, so the same budget.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Counts per address in one-second windows, in a fixed table of slots
/// hashed with a random key: memory stays constant whatever the number of
/// (possibly forged) sources. Two addresses that share a slot take turns
/// resetting it, which errs towards allowing; the random key keeps anyone
/// from choosing such a pair. (Hand-rolled: it is twenty lines, and the
/// rate-limit crates keep a map entry per key, which forged sources grow.)
struct RateWindows {
    slots: Box<[Window]>,
    hasher: RandomState,
}

#[derive(Clone, Copy)]
struct Window {
    ip: Option<IpAddr>,
    start: Option<Instant>,
    used: u32,
}

impl RateWindows {
    const SLOTS: usize = 4096;
    const WINDOW: Duration = Duration::from_secs(1);

    fn new() -> Self {
        let empty = Window {
            ip: None,
            start: None,
            used: 0,
        };
        RateWindows {
            slots: vec![empty; Self::SLOTS].into_boxed_slice(),
            hasher: RandomState::new(),
        }
    }

    /// Counts one event from `ip` if it is within `rate` this window.
    fn allow(&mut self, ip: IpAddr, rate: u32, now: Instant) -> bool {
        let slot = &mut self.slots[self.hasher.hash_one(ip) as usize % Self::SLOTS];
        let expired = slot
            .start
            .is_none_or(|start| now.saturating_duration_since(start) >= Self::WINDOW);
        if slot.ip != Some(ip) || expired {
            *slot = Window {
                ip: Some(ip),
                start: Some(now),
                used: 0,
            };
        }
        if slot.used >= rate {
            return false;
        }
        slot.used += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u32, rate: u32) -> AddressLimits {
        AddressLimits {
            max_connections: Some(max),
            connects_per_sec: Some(rate),
            replies_per_sec: Some(rate),
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let mut t = AddressTable::new(limits(2, 100));
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let now = Instant::now();
        assert_eq!(t.admit(a, now), Ok(()));
        assert_eq!(t.admit(a, now), Ok(()));
        assert_eq!(t.admit(a, now), Err(AddressRefusal::TooMany));
        assert_eq!(t.admit(b, now), Ok(()), "another host is let in");
        t.release(a);
        assert_eq!(t.admit(a, now), Ok(()));
        t.release(b);
        assert!(!t.held.contains_key(&b), "no entry for an address gone");
    }

    #[test]
    fn connects_and_replies_are_counted_per_second() {
        let mut t = AddressTable::new(limits(100, 3));
        let a: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.admit(a, now), Ok(()));
        }
        assert_eq!(t.admit(a, now), Err(AddressRefusal::TooFast));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(t.admit(v4, now), Err(AddressRefusal::TooFast), "same host");
        assert_eq!(t.admit(a, now + Duration::from_secs(1)), Ok(()));
        let r = (0..10).filter(|_| t.allow_reply(a, now)).count();
        assert_eq!(r, 3);
    }

    #[test]
    fn an_ipv6_slash_64_is_one_host() {
        let mut t = AddressTable::new(limits(2, 100));
        let now = Instant::now();
        for a in ["2001:db8::1", "2001:db8::2:3"] {
            assert_eq!(t.admit(a.parse().unwrap(), now), Ok(()));
        }
        let third = "2001:db8::ffff".parse().unwrap();
        assert_eq!(t.admit(third, now), Err(AddressRefusal::TooMany));
        let other = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(t.admit(other, now), Ok(()), "another /64");
    }

    #[test]
    fn exempt_networks_are_not_limited() {
        let mut t = AddressTable::new(limits(1, 1));
        let a = "10.1.2.3".parse().unwrap();
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(t.admit(a, now), Ok(()));
        }
    }
}
