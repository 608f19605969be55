//! Flood detection in the manner of Kamailio's pike module, sans-IO: the transport
//! calls [`Flood::check`] with each datagram's source and `now`, before parsing, and
//! drops the datagram when the answer is [`Verdict::Flooding`]. No clock, socket or
//! timer inside; state is swept lazily on each call.
//!
//! Counting: requests per source in fixed sampling units (`sampling-time-unit`); a
//! source that sends more than `reqs-density-per-unit` in one unit is flooding. Pike
//! flags the `density`-th hit itself and counts in units of a global timer; here
//! `density` datagrams pass and the next one trips, in units counted from the
//! detector's creation.
//!
//! Release, where this differs from pike on purpose: in pike, `remove_latency` is only
//! how long an idle address stays in memory, and a blocked address is released at the
//! first sampling unit within the density, so a pulsing flooder is blocked, released
//! and reported again every other unit. Here a blocked source stays blocked until
//! `remove-latency` has passed since its last datagram over the density: one report
//! per flood, and a flooder that keeps flooding (its dropped datagrams still count)
//! stays blocked, while one that calms down to a normal rate is released without
//! having to fall silent.
//!
//! Memory is bounded by `max-tracked` sources, held in a slab allocated up front and
//! two least-recently-seen lists, one for clean sources and one for blocked ones. A
//! new source when full forgets the stalest clean source; a blocked source is
//! forgotten only when every tracked source is blocked. A clean source idle for a
//! whole unit carries no information and is swept (at most two per call), as is a
//! blocked one quiet for `remove-latency`. Each call is a hash lookup and a few index
//! updates; no allocation once the slab is full.
//!
//! Whitelisted sources (CIDR blocks) are neither counted nor remembered. IPv4-mapped
//! IPv6 sources count as IPv4; other IPv6 sources count per `ipv6-prefix` (a /64 by
//! default: one host can rotate through a whole /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::cidr::{canonical, Cidr};
use crate::config::flood::FloodConfig;

/// What to do with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: parse and handle it.
    Pass,
    /// The source is flooding: drop the datagram without reply. `first` is true once
    /// per flood, on the datagram that tripped the density: log it, raise the event,
    /// count a failure for fail2ban.
    Flooding { first: bool },
}

/// Counters for `status` and `fail2ban stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloodStats {
    /// Sources tracked now.
    pub tracked: usize,
    /// Of those, blocked now.
    pub blocked: usize,
    /// Floods detected (`Flooding { first: true }` answers).
    pub floods: u64,
    /// Datagrams answered `Flooding` (the first of each flood included).
    pub dropped: u64,
    /// Blocks lifted: `remove-latency` of calm (noticed on the source's next datagram
    /// or by a sweep), or whitelisted since.
    pub released: u64,
    /// Clean sources forgotten to make room (max-tracked reached).
    pub evicted_clean: u64,
    /// Blocked sources forgotten to make room (every tracked source was blocked).
    pub evicted_blocked: u64,
}

const NIL: u32 = u32::MAX;

/// One tracked source.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: IpAddr,
    /// The sampling unit `count` belongs to.
    unit: u64,
    count: u32,
    blocked: bool,
    /// Milliseconds since the detector's epoch.
    last_seen: u64,
    /// When it was last over the density (meaningful while blocked).
    last_over: u64,
    prev: u32,
    next: u32,
}

/// A doubly linked list threaded through the slab, most recently seen at the head.
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Per-source flood detector; see the module documentation.
#[derive(Debug)]
pub struct Flood {
    enabled: bool,
    unit_ms: u64,
    density: u32,
    latency_ms: u64,
    ipv6_prefix: u8,
    max: usize,
    epoch: Instant,
    whitelist: Vec<Cidr>,
    index: HashMap<IpAddr, u32>,
    slots: Vec<Slot>,
    /// Slots swept and ready for reuse, linked through `next`.
    free: u32,
    clean: List,
    blocked: List,
    stats: FloodStats,
}

impl Flood {
    /// A detector configured by `cfg`; `whitelist` (fail2ban's, typically) is never
    /// counted. `now` is the start of the first sampling unit.
    pub fn new(cfg: &FloodConfig, whitelist: Vec<Cidr>, now: Instant) -> Flood {
        let max = cfg.max_tracked.clamp(1, NIL as usize - 1);
        Flood {
            enabled: cfg.enabled,
            unit_ms: millis(cfg.sampling_time_unit).max(1),
            density: cfg.reqs_density_per_unit,
            latency_ms: millis(cfg.remove_latency),
            ipv6_prefix: cfg.ipv6_prefix.min(128),
            max,
            epoch: now,
            whitelist,
            index: HashMap::with_capacity(max),
            slots: Vec::with_capacity(max),
            free: NIL,
            clean: List::EMPTY,
            blocked: List::EMPTY,
            stats: FloodStats::default(),
        }
    }

    /// Replaces the whitelist (after `reloadxml`); tracked sources it now covers are
    /// forgotten on their next sweep and no longer counted.
    pub fn set_whitelist(&mut self, whitelist: Vec<Cidr>) {
        self.whitelist = whitelist;
    }

    /// Counts one datagram from `ip` at `now`; see [`Verdict`].
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        if !self.enabled {
            return Verdict::Pass;
        }
        let ip = canonical(ip);
        if self.whitelist.iter().any(|c| c.contains(ip)) {
            return Verdict::Pass;
        }
        let key = self.key(ip);
        let t = self.ms(now);
        let unit = t / self.unit_ms;
        self.sweep(t, 2);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => self.insert(key, t, unit),
        };
        let (density, latency) = (self.density, self.latency_ms);
        let s = &mut self.slots[i as usize];
        if s.unit != unit {
            s.unit = unit;
            s.count = 0;
        }
        s.count = s.count.saturating_add(1);
        s.last_seen = t;
        let over = s.count > density;
        if over {
            s.last_over = t;
        }
        let (blocked, calm_since) = (s.blocked, s.last_over);
        match (blocked, over) {
            (false, false) => {
                self.touch(i);
                Verdict::Pass
            }
            (false, true) => {
                self.set_blocked(i, true);
                self.stats.floods += 1;
                self.stats.dropped += 1;
                Verdict::Flooding { first: true }
            }
            (true, false) if t.saturating_sub(calm_since) >= latency => {
                self.set_blocked(i, false);
                self.stats.released += 1;
                Verdict::Pass
            }
            (true, _) => {
                self.touch(i);
                self.stats.dropped += 1;
                Verdict::Flooding { first: false }
            }
        }
    }

    /// Whether `ip` is blocked now (without counting a datagram): for `fail2ban list`
    /// and tests.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let key = self.key(canonical(ip));
        let t = self.ms(now);
        self.index.get(&key).is_some_and(|&i| {
            let s = &self.slots[i as usize];
            s.blocked && t.saturating_sub(s.last_over) < self.latency_ms
        })
    }

    /// The blocked sources (IPv6 ones as their counted prefix's first address), most
    /// recently seen first.
    pub fn blocked_sources(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let mut i = self.blocked.head;
        std::iter::from_fn(move || {
            let s = self.slots.get(i as usize)?;
            i = s.next;
            Some(s.key)
        })
    }

    pub fn stats(&self) -> FloodStats {
        FloodStats {
            tracked: self.index.len(),
            blocked: self.blocked.len,
            ..self.stats
        }
    }

    /// Forgets what has expired at `now` (a periodic tidy-up; `check` also sweeps a
    /// little on each call). Returns how many sources were forgotten.
    pub fn expire(&mut self, now: Instant) -> usize {
        let t = self.ms(now);
        self.sweep(t, usize::MAX)
    }

    fn ms(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.epoch))
    }

    fn key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(_) if self.ipv6_prefix < 128 => {
                Cidr::new(ip, self.ipv6_prefix).map_or(ip, |c| c.network())
            }
            _ => ip,
        }
    }

    /// Forgets up to `limit` expired sources from the stale ends of both lists: a
    /// clean one whose count is from an earlier unit, a blocked one quiet (not over
    /// the density) for `remove-latency`, or any that is whitelisted now.
    fn sweep(&mut self, t: u64, limit: usize) -> usize {
        let unit = t / self.unit_ms;
        let mut n = 0;
        while n < limit {
            let tail = self.clean.tail;
            let Some(s) = self.slots.get(tail as usize) else {
                break;
            };
            if s.unit == unit && !self.whitelisted(s.key) {
                break;
            }
            self.remove(tail);
            n += 1;
        }
        while n < limit {
            let tail = self.blocked.tail;
            let Some(s) = self.slots.get(tail as usize) else {
                break;
            };
            if t.saturating_sub(s.last_over) < self.latency_ms && !self.whitelisted(s.key) {
                break;
            }
            self.remove(tail);
            self.stats.released += 1;
            n += 1;
        }
        n
    }

    fn whitelisted(&self, key: IpAddr) -> bool {
        !self.whitelist.is_empty() && self.whitelist.iter().any(|c| c.contains(key))
    }

    /// Tracks `key` as a clean source, making room first if full.
    fn insert(&mut self, key: IpAddr, t: u64, unit: u64) -> u32 {
        if self.index.len() >= self.max {
            let victim = if self.clean.tail != NIL {
                self.stats.evicted_clean += 1;
                self.clean.tail
            } else {
                self.stats.evicted_blocked += 1;
                self.blocked.tail
            };
            self.remove(victim);
        }
        let slot = Slot {
            key,
            unit,
            count: 0,
            blocked: false,
            last_seen: t,
            last_over: 0,
            prev: NIL,
            next: NIL,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            self.slots[i as usize] = slot;
            i
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        self.index.insert(key, i);
        self.push_front(i);
        i
    }

    fn remove(&mut self, i: u32) {
        self.unlink(i);
        let s = &mut self.slots[i as usize];
        let key = s.key;
        s.next = self.free;
        self.free = i;
        self.index.remove(&key);
    }

    fn set_blocked(&mut self, i: u32, blocked: bool) {
        self.unlink(i);
        self.slots[i as usize].blocked = blocked;
        self.push_front(i);
    }

    /// Moves `i` to the head of its list (most recently seen).
    fn touch(&mut self, i: u32) {
        let list = self.list(i);
        if list.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    fn list(&self, i: u32) -> List {
        if self.slots[i as usize].blocked {
            self.blocked
        } else {
            self.clean
        }
    }

    fn list_mut(&mut self, blocked: bool) -> &mut List {
        if blocked {
            &mut self.blocked
        } else {
            &mut self.clean
        }
    }

    fn unlink(&mut self, i: u32) {
        let Slot {
            prev,
            next,
            blocked,
            ..
        } = self.slots[i as usize];
        if prev != NIL {
            self.slots[prev as usize].next = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        let list = self.list_mut(blocked);
        if list.head == i {
            list.head = next;
        }
        if list.tail == i {
            list.tail = prev;
        }
        list.len -= 1;
        let s = &mut self.slots[i as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn push_front(&mut self, i: u32) {
        let blocked = self.slots[i as usize].blocked;
        let list = self.list_mut(blocked);
        let old = list.head;
        list.head = i;
        if list.tail == NIL {
            list.tail = i;
        }
        list.len += 1;
        if old != NIL {
            self.slots[old as usize].prev = i;
        }
        self.slots[i as usize].next = old;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cfg(unit: u64, density: u32, latency: u64, max: usize) -> FloodConfig {
        FloodConfig {
            enabled: true,
            sampling_time_unit: Duration::from_secs(unit),
            reqs_density_per_unit: density,
            remove_latency: Duration::from_secs(latency),
            max_tracked: max,
            ipv6_prefix: 64,
        }
    }

    const PASS: Verdict = Verdict::Pass;
    const FIRST: Verdict = Verdict::Flooding { first: true };
    const AGAIN: Verdict = Verdict::Flooding { first: false };

    /// The acceptance test: one source at 10x the density, another at a normal rate,
    /// over many units on a virtual clock. The normal one always passes; the flooder
    /// is blocked within its first unit, reported once, kept blocked while it floods,
    /// and released after remove-latency of quiet.
    #[test]
    fn a_flooder_is_blocked_and_released_while_a_normal_source_always_passes() {
        let (unit, density, latency) = (2, 25, 20);
        let t0 = Instant::now();
        let mut f = Flood::new(&cfg(unit, density, latency, 64), vec![], t0);
        let (bad, good) = (ip("203.0.113.9"), ip("198.51.100.7"));
        let unit_ms = unit * 1000;
        // The flooder: 250 per unit (10x), one every 8 ms; the normal source: 10 per
        // unit, interleaved. 50 units of flood.
        let flood_units = 50;
        let bad_per_unit = 10 * u64::from(density);
        let step = unit_ms / bad_per_unit;
        let mut firsts = 0;
        let mut first_at = None;
        let mut good_sent = 0;
        for k in 0..flood_units * bad_per_unit {
            let t = t0 + Duration::from_millis(k * step + 1);
            match f.check(bad, t) {
                FIRST => {
                    firsts += 1;
                    first_at.get_or_insert(k);
                }
                AGAIN => {}
                PASS => assert!(first_at.is_none(), "flooder passed at {k} after its block"),
            }
            if k % 25 == 0 {
                assert_eq!(f.check(good, t), PASS, "normal source refused at {k}");
                good_sent += 1;
            }
        }
        assert_eq!(firsts, 1, "one report per flood");
        // Blocked within its first unit: on the (density+1)-th datagram.
        assert_eq!(first_at, Some(u64::from(density)));
        assert!(first_at.unwrap() * step < unit_ms);
        assert_eq!(good_sent, flood_units * 10);
        let end = t0 + Duration::from_millis(flood_units * unit_ms);
        assert!(f.is_blocked(bad, end));
        // Quiet: still blocked just before remove-latency has passed since the last
        // datagram over the density, released after it.
        let last = t0 + Duration::from_millis((flood_units * bad_per_unit - 1) * step + 1);
        let almost = last + Duration::from_secs(latency) - Duration::from_millis(1);
        assert_eq!(f.check(bad, almost), AGAIN);
        // That datagram was within the density (a new unit), so calm is counted from
        // the last one over it.
        assert_eq!(f.check(bad, last + Duration::from_secs(latency)), PASS);
        assert!(!f.is_blocked(bad, last + Duration::from_secs(latency)));
        let st = f.stats();
        assert_eq!(st.floods, 1);
        assert_eq!(st.released, 1);
        assert_eq!(
            st.dropped,
            flood_units * bad_per_unit - u64::from(density) + 1
        );
    }

    #[test]
    fn density_datagrams_pass_and_the_next_trips() {
        let t0 = Instant::now();
        let mut f = Flood::new(&cfg(2, 5, 10, 64), vec![], t0);
        let a = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(f.check(a, t0), PASS);
        }
        assert_eq!(f.check(a, t0), FIRST);
        assert_eq!(f.check(a, t0), AGAIN);
        // 5 per unit forever is fine for another source.
        let b = ip("192.0.2.2");
        for u in 0..100 {
            for _ in 0..5 {
                assert_eq!(f.check(b, t0 + Duration::from_secs(2 * u)), PASS);
            }
        }
    }

    #[test]
    fn a_flooder_that_keeps_flooding_stays_blocked_and_one_that_calms_down_is_released() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut f = Flood::new(&cfg(1, 10, 5, 64), vec![], t0);
        let a = ip("192.0.2.1");
        for _ in 0..11 {
            f.check(a, t0);
        }
        assert!(f.is_blocked(a, t0));
        // Its dropped datagrams still count: 20 per unit for 30 s keeps it blocked,
        // with no second report.
        for ms in (0..30_000).step_by(50) {
            assert_eq!(f.check(a, at(ms)), AGAIN, "at {ms} ms");
        }
        // Then a normal rate (2 per unit) without falling silent: released once 5 s
        // have passed since the last unit over the density.
        let last_over = 29_950;
        let mut released = None;
        for ms in (30_000..40_000).step_by(500) {
            match f.check(a, at(ms)) {
                PASS => {
                    released.get_or_insert(ms);
                }
                AGAIN => assert!(released.is_none()),
                FIRST => panic!("reported again at {ms}"),
            }
        }
        assert_eq!(released, Some(last_over + 5_050));
        assert_eq!(f.stats().floods, 1);
        // Flooding again is a new flood, reported again.
        let mut v = PASS;
        for _ in 0..11 {
            v = f.check(a, at(40_000));
        }
        assert_eq!(v, FIRST);
        assert_eq!(f.stats().floods, 2);
    }

    #[test]
    fn a_burst_within_the_density_across_a_unit_boundary_passes() {
        // Fixed units, as pike's: 10 at the end of one unit and 10 at the start of the
        // next pass with a density of 10.
        let t0 = Instant::now();
        let mut f = Flood::new(&cfg(2, 10, 10, 64), vec![], t0);
        let a = ip("192.0.2.1");
        for _ in 0..10 {
            assert_eq!(f.check(a, t0 + Duration::from_millis(1_990)), PASS);
        }
        for _ in 0..10 {
            assert_eq!(f.check(a, t0 + Duration::from_millis(2_010)), PASS);
        }
        assert_eq!(f.check(a, t0 + Duration::from_millis(2_020)), FIRST);
    }

    #[test]
    fn whitelisted_sources_are_neither_counted_nor_remembered() {
        let t0 = Instant::now();
        let wl = vec![
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("2001:db8::/32").unwrap(),
        ];
        let mut f = Flood::new(&cfg(2, 3, 10, 64), wl, t0);
        for src in ["10.1.2.3", "::ffff:10.9.9.9", "2001:db8::5"] {
            for _ in 0..1000 {
                assert_eq!(f.check(ip(src), t0), PASS, "{src}");
            }
        }
        assert_eq!(f.stats().tracked, 0);
        // A blocked source whitelisted later is forgotten and passes.
        let a = ip("192.0.2.1");
        for _ in 0..4 {
            f.check(a, t0);
        }
        assert!(f.is_blocked(a, t0));
        f.set_whitelist(vec![Cidr::parse("192.0.2.0/24").unwrap()]);
        assert_eq!(f.check(a, t0), PASS);
        assert_eq!(f.expire(t0), 1);
        assert_eq!(f.stats().tracked, 0);
    }

    #[test]
    fn disabled_passes_everything() {
        let t0 = Instant::now();
        let mut c = cfg(1, 1, 10, 64);
        c.enabled = false;
        let mut f = Flood::new(&c, vec![], t0);
        for _ in 0..100 {
            assert_eq!(f.check(ip("192.0.2.1"), t0), PASS);
        }
        assert_eq!(f.stats(), FloodStats::default());
    }

    #[test]
    fn ipv4_mapped_sources_count_as_ipv4_and_ipv6_per_prefix() {
        let t0 = Instant::now();
        let mut f = Flood::new(&cfg(2, 4, 10, 64), vec![], t0);
        for s in ["192.0.2.1", "::ffff:192.0.2.1"] {
            f.check(ip(s), t0);
            f.check(ip(s), t0);
        }
        assert_eq!(f.check(ip("192.0.2.1"), t0), FIRST);
        // Rotating through one /64 does not escape.
        let mut v = PASS;
        for i in 1..=5u16 {
            v = f.check(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i)),
                t0,
            );
        }
        assert_eq!(v, FIRST);
        assert!(f.is_blocked(ip("2001:db8:1:2::ffff"), t0));
        assert!(!f.is_blocked(ip("2001:db8:1:3::1"), t0));
        let blocked: Vec<IpAddr> = f.blocked_sources().collect();
        assert_eq!(blocked, vec![ip("2001:db8:1:2::"), ip("192.0.2.1")]);
        // With ipv6-prefix 128 each address counts alone.
        let mut c = cfg(2, 4, 10, 64);
        c.ipv6_prefix = 128;
        let mut f = Flood::new(&c, vec![], t0);
        for i in 1..=100u16 {
            let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i));
            assert_eq!(f.check(a, t0), PASS);
        }
    }

    /// A flood of spoofed sources (each new, each once) never grows past max-tracked,
    /// never forgets a blocked source while a clean one is there, and leaves room for
    /// the real flooder to be caught.
    #[test]
    fn spoofed_sources_stay_bounded_and_do_not_evict_blocked_ones() {
        let t0 = Instant::now();
        let max = 64;
        let mut f = Flood::new(&cfg(2, 5, 60, max), vec![], t0);
        let flooders: Vec<IpAddr> = (1..=3u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(203, 0, 113, i)))
            .collect();
        for &a in &flooders {
            for _ in 0..6 {
                f.check(a, t0);
            }
            assert!(f.is_blocked(a, t0));
        }
        let slab = f.slots.capacity();
        for n in 0..100_000u32 {
            let spoofed = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            assert_eq!(f.check(spoofed, t0), PASS);
            assert!(f.stats().tracked <= max);
        }
        assert_eq!(f.slots.capacity(), slab, "no growth past the slab");
        for &a in &flooders {
            assert!(f.is_blocked(a, t0), "{a} forgotten");
            assert_eq!(f.check(a, t0), AGAIN);
        }
        let st = f.stats();
        assert_eq!(st.tracked, max);
        assert_eq!(st.blocked, 3);
        assert_eq!(st.evicted_blocked, 0);
        assert_eq!(st.evicted_clean, 100_000 - (max as u64 - 3));
        // Only when every tracked source is blocked does a blocked one go: the stalest.
        let mut f = Flood::new(&cfg(2, 1, 60, 2), vec![], t0);
        for s in ["192.0.2.1", "192.0.2.2"] {
            f.check(ip(s), t0);
            assert_eq!(f.check(ip(s), t0), FIRST);
        }
        f.check(ip("192.0.2.1"), t0 + Duration::from_millis(5));
        f.check(ip("192.0.2.3"), t0 + Duration::from_millis(6));
        assert_eq!(f.stats().evicted_blocked, 1);
        assert!(f.is_blocked(ip("192.0.2.1"), t0));
        assert!(!f.is_blocked(ip("192.0.2.2"), t0));
    }

    #[test]
    fn idle_sources_are_swept() {
        let t0 = Instant::now();
        let mut f = Flood::new(&cfg(2, 3, 10, 64), vec![], t0);
        for i in 0..10u32 {
            f.check(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)), t0);
        }
        let a = ip("203.0.113.1");
        for _ in 0..4 {
            f.check(a, t0);
        }
        assert_eq!(f.stats().tracked, 11);
        // A unit later the clean ones carry nothing; the blocked one is kept until
        // remove-latency.
        assert_eq!(f.expire(t0 + Duration::from_secs(2)), 10);
        assert_eq!(f.stats().tracked, 1);
        assert_eq!(f.expire(t0 + Duration::from_millis(9_999)), 0);
        assert_eq!(f.expire(t0 + Duration::from_secs(10)), 1);
        assert_eq!(
            f.stats(),
            FloodStats {
                floods: 1,
                dropped: 1,
                released: 1,
                ..FloodStats::default()
            }
        );
        // check() sweeps as it goes: steady traffic from changing sources stays small.
        for i in 0..1000u64 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
            f.check(src, t0 + Duration::from_millis(20_000 + i * 100));
        }
        assert!(f.stats().tracked <= 25, "{:?}", f.stats());
    }

    #[test]
    fn a_clock_before_the_epoch_does_not_panic() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut f = Flood::new(&cfg(2, 3, 10, 64), vec![], t0);
        assert_eq!(f.check(ip("192.0.2.1"), Instant::now()), PASS);
    }
}
