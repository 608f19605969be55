//! fail2ban in the box: failures counted per source address in a sliding window, bans
//! with escalation for repeat offenders, expiry, and a store op for every change so
//! bans survive a restart.
//!
//! Sans-IO (principle 1): no clock, socket or file here. The caller passes `now`
//! (monotonic) into every call; the wall clock (Unix seconds) the store needs is
//! derived from the anchor given to [`Fail2ban::new`] / [`Fail2ban::restore`]. The
//! caller persists what [`Fail2ban::poll_store_op`] returns (a ban is `Critical`: a
//! ban the API acknowledged, or an attacker that was banned, must hold after a power
//! cut), calls [`Fail2ban::handle_timeout`] at [`Fail2ban::poll_timeout`], and drops
//! every datagram or connection for which [`Fail2ban::is_banned`] says so, before
//! parsing it.
//!
//! Bounded (principle 2): at most `max-bans` bans, `max-tracked` counted sources (each
//! with at most `max-attempts` stamps) and `max-bans` remembered past offenders; every
//! limit hit is counted in [`Fail2banStats`]. Addresses are canonical: an IPv4-mapped
//! IPv6 peer is its IPv4 address.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ban_record::Ban;
use crate::cidr::{canonical, Cidr};
use crate::config::fail2ban::Fail2banConfig;
use crate::config::flood::ScannerAction;
use crate::store::Durability;

/// Longest ban `ban` gives (ten years); longer asks are cut to it.
pub const MAX_BAN_SECS: u64 = 10 * 365 * 86_400;

/// At most this many bytes of a failure's detail are kept (it comes from the network).
const DETAIL_MAX: usize = 200;

/// What a source did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Wrong digest credentials on a REGISTER.
    RegisterAuth,
    /// Wrong digest credentials on an INVITE (or another request than REGISTER).
    InviteAuth,
    /// A request for a user or domain the directory does not have.
    UnknownUser,
    /// Refused by an ACL (an external profile's request from outside its list).
    AclForbidden,
    /// A wrong event socket password.
    EslAuth,
    /// A failed login on the web page.
    WebLogin,
    /// A SIP scanner (friendly-scanner, sipvicious, ... User-Agent or probe).
    Scanner,
    /// A source that started flooding (over the flood detector's density).
    Flood,
}

impl FailureKind {
    pub const ALL: [FailureKind; 8] = [
        FailureKind::RegisterAuth,
        FailureKind::InviteAuth,
        FailureKind::UnknownUser,
        FailureKind::AclForbidden,
        FailureKind::EslAuth,
        FailureKind::WebLogin,
        FailureKind::Scanner,
        FailureKind::Flood,
    ];

    /// The name in stats, events, the store and the API (`register-auth`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::RegisterAuth => "register-auth",
            FailureKind::InviteAuth => "invite-auth",
            FailureKind::UnknownUser => "unknown-user",
            FailureKind::AclForbidden => "acl",
            FailureKind::EslAuth => "esl-auth",
            FailureKind::WebLogin => "web-login",
            FailureKind::Scanner => "scanner",
            FailureKind::Flood => "flood",
        }
    }

    fn index(self) -> usize {
        match self {
            FailureKind::RegisterAuth => 0,
            FailureKind::InviteAuth => 1,
            FailureKind::UnknownUser => 2,
            FailureKind::AclForbidden => 3,
            FailureKind::EslAuth => 4,
            FailureKind::WebLogin => 5,
            FailureKind::Scanner => 6,
            FailureKind::Flood => 7,
        }
    }
}

/// The reason a ban made by the API carries.
pub const API_REASON: &str = "api";

/// A source was banned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanEvent {
    pub ip: IpAddr,
    /// A [`FailureKind::name`], or [`API_REASON`].
    pub reason: String,
    /// The last failure's detail (cut to 200 bytes); empty for the API.
    pub detail: String,
    /// Failures in the window that led to it (0 for the API).
    pub attempts: u32,
    /// Its length; 0 = permanent.
    pub secs: u64,
    /// Wall clock end; 0 = permanent.
    pub expires_at_unix: u64,
    pub banned_at_unix: u64,
    /// 1 for a first offence, 2 for the first repeat, ...
    pub offences: u32,
    /// A temporary ban dropped to make room (max-bans reached).
    pub evicted: Option<IpAddr>,
}

/// Why a ban ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnbanReason {
    Expired,
    /// `fail2ban unban`.
    Api,
    /// `fail2ban clear`.
    Cleared,
    /// Dropped to make room for a new ban (max-bans).
    Evicted,
}

impl UnbanReason {
    pub fn name(self) -> &'static str {
        match self {
            UnbanReason::Expired => "expired",
            UnbanReason::Api => "api",
            UnbanReason::Cleared => "cleared",
            UnbanReason::Evicted => "evicted",
        }
    }
}

/// A ban ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnbanEvent {
    pub ip: IpAddr,
    pub reason: UnbanReason,
    /// How long it was held, seconds.
    pub held_secs: u64,
}

/// A change the caller writes to the store's `fail2ban_bans` tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanStoreOp {
    Put(Ban, Durability),
    Delete(Vec<u8>, Durability),
}

impl BanStoreOp {
    pub fn durability(&self) -> Durability {
        match self {
            BanStoreOp::Put(_, d) | BanStoreOp::Delete(_, d) => *d,
        }
    }
}

/// Why `ban` refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanError {
    /// The address is in this whitelist block.
    Whitelisted(IpAddr, Cidr),
    /// max-bans bans are held and all are permanent.
    Full(usize),
}

impl std::fmt::Display for BanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanError::Whitelisted(ip, c) => write!(
                f,
                "{ip} is in the whitelist ({c}); remove it from the whitelist param of \
                 fail2ban.conf.xml to ban it"
            ),
            BanError::Full(n) => write!(
                f,
                "{n} bans are held (max-bans) and all are permanent; unban some or raise \
                 max-bans in fail2ban.conf.xml"
            ),
        }
    }
}

impl std::error::Error for BanError {}

/// One ban as `fail2ban list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanInfo {
    pub ip: IpAddr,
    pub reason: String,
    pub banned_at_unix: u64,
    /// 0 = permanent.
    pub expires_at_unix: u64,
    /// None = permanent.
    pub remaining_secs: Option<u64>,
    pub offences: u32,
    /// Datagrams/connections dropped because of it.
    pub dropped: u64,
}

/// What `fail2ban stats` shows; every limit hit is here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fail2banStats {
    /// Failures by kind, in [`FailureKind::ALL`] order (whitelisted ones included).
    pub failures: [u64; 8],
    /// Failures from whitelisted sources (never banned).
    pub whitelisted_failures: u64,
    /// Failures reported for a source already banned (e.g. an open connection).
    pub failures_while_banned: u64,
    /// Bans made by the failure counting (including scanners banned at once).
    pub auto_bans: u64,
    /// Bans made by the API.
    pub api_bans: u64,
    /// Bans that were repeat offences (escalated).
    pub repeat_bans: u64,
    pub expired: u64,
    pub api_unbans: u64,
    pub cleared: u64,
    /// Temporary bans dropped for a new one (max-bans reached).
    pub bans_evicted: u64,
    /// Bans refused: max-bans reached and every ban permanent.
    pub bans_refused: u64,
    /// Counted sources forgotten for a new one (max-tracked reached).
    pub tracked_evicted: u64,
    /// Past offenders forgotten early (max-bans of them remembered).
    pub offenders_evicted: u64,
    /// Datagrams/connections dropped by `is_banned`.
    pub dropped: u64,
    pub active_bans: usize,
    pub permanent_bans: usize,
    pub tracked: usize,
    pub offenders: usize,
    pub max_bans: usize,
    pub max_tracked: usize,
    pub enabled: bool,
}

/// What `restore` did with the stored bans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub restored: usize,
    /// Already over (deleted from the store).
    pub expired: usize,
    /// Now in the whitelist (deleted from the store).
    pub whitelisted: usize,
    /// More than max-bans: dropped (deleted from the store).
    pub dropped: usize,
    /// Whose end was further away than their length (the wall clock was behind):
    /// shortened to their length and rewritten.
    pub shortened: usize,
}

struct Active {
    ban: Ban,
    /// None = permanent.
    until: Option<Instant>,
    since: Instant,
    dropped: AtomicU64,
}

struct Tracked {
    stamps: VecDeque<Instant>,
}

#[derive(Clone, Copy)]
struct Offender {
    offences: u32,
    last_secs: u64,
    ended: Instant,
}

/// The state machine. See the module comment.
pub struct Fail2ban {
    enabled: bool,
    max_attempts: usize,
    window: Duration,
    ban_secs: u64,
    escalation: u64,
    ban_max_secs: u64,
    repeat_window: Duration,
    max_bans: usize,
    max_tracked: usize,
    scanner_action: ScannerAction,
    whitelist: Vec<Cidr>,
    /// `now` and the wall clock at the same moment.
    anchor: (Instant, u64),
    bans: HashMap<IpAddr, Active>,
    /// Temporary bans by end.
    expiry: BTreeSet<(Instant, IpAddr)>,
    tracked: HashMap<IpAddr, Tracked>,
    /// Counted sources by last failure.
    tracked_order: BTreeSet<(Instant, IpAddr)>,
    offenders: HashMap<IpAddr, Offender>,
    /// Past offenders by the end of their last ban.
    offender_order: BTreeSet<(Instant, IpAddr)>,
    store_ops: VecDeque<BanStoreOp>,
    stats: Fail2banStats,
    dropped: AtomicU64,
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Fail2ban {
    /// An empty guard; `now` and `now_unix` are the same moment on the two clocks.
    pub fn new(cfg: &Fail2banConfig, now: Instant, now_unix: u64) -> Fail2ban {
        Fail2ban {
            enabled: cfg.enabled,
            max_attempts: cfg.max_attempts.max(1) as usize,
            window: Duration::from_secs(u64::from(cfg.time_window_secs.max(1))),
            ban_secs: u64::from(cfg.ban_time_secs),
            escalation: u64::from(cfg.ban_escalation.max(1)),
            ban_max_secs: u64::from(cfg.ban_time_max_secs.max(cfg.ban_time_secs)),
            repeat_window: Duration::from_secs(u64::from(cfg.repeat_window_secs)),
            max_bans: cfg.max_bans.max(1) as usize,
            max_tracked: cfg.max_tracked.max(1) as usize,
            scanner_action: cfg.scanners.action,
            whitelist: cfg.whitelist.clone(),
            anchor: (now, now_unix),
            bans: HashMap::new(),
            expiry: BTreeSet::new(),
            tracked: HashMap::new(),
            tracked_order: BTreeSet::new(),
            offenders: HashMap::new(),
            offender_order: BTreeSet::new(),
            store_ops: VecDeque::new(),
            stats: Fail2banStats::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// The wall clock at `now`.
    fn unix_at(&self, now: Instant) -> u64 {
        self.anchor
            .1
            .saturating_add(now.saturating_duration_since(self.anchor.0).as_secs())
    }

    /// The whitelist block containing `ip`, if any.
    pub fn whitelisted(&self, ip: IpAddr) -> Option<Cidr> {
        let ip = canonical(ip);
        self.whitelist.iter().copied().find(|c| c.contains(ip))
    }

    /// Whether to drop what `ip` sent, before parsing it. A hash lookup; counts the
    /// drop (atomically, so `&self` suffices from any task).
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(a) = self.bans.get(&canonical(ip)) else {
            return false;
        };
        if a.until.is_some_and(|t| now >= t) {
            return false;
        }
        a.dropped.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Counts a failure of `ip`; bans it when it reaches max-attempts within the time
    /// window (a scanner at once with scanner-action=ban). Whitelisted sources are
    /// counted in stats only; with enabled=false nobody is banned.
    pub fn record_failure(
        &mut self,
        ip: IpAddr,
        kind: FailureKind,
        detail: &str,
        now: Instant,
    ) -> Option<BanEvent> {
        let ip = canonical(ip);
        self.stats.failures[kind.index()] += 1;
        if self.whitelisted(ip).is_some() {
            self.stats.whitelisted_failures += 1;
            return None;
        }
        if self.is_active(ip, now) {
            self.stats.failures_while_banned += 1;
            return None;
        }
        if !self.enabled {
            return None;
        }
        let attempts = if kind == FailureKind::Scanner && self.scanner_action == ScannerAction::Ban
        {
            self.forget_tracked(ip);
            1
        } else {
            let n = self.track(ip, now);
            if n < self.max_attempts {
                return None;
            }
            self.forget_tracked(ip);
            n as u32
        };
        let (secs, offences) = self.next_ban(ip, now);
        let ev = self.put_ban(ip, secs, offences, kind.name(), now).ok()?;
        self.stats.auto_bans += 1;
        if offences > 1 {
            self.stats.repeat_bans += 1;
        }
        Some(BanEvent {
            detail: cut(detail, DETAIL_MAX),
            attempts,
            ..ev
        })
    }

    fn is_active(&self, ip: IpAddr, now: Instant) -> bool {
        self.bans
            .get(&ip)
            .is_some_and(|a| a.until.is_none_or(|t| now < t))
    }

    /// Adds a failure stamp for `ip`; how many are within the window.
    fn track(&mut self, ip: IpAddr, now: Instant) -> usize {
        if let Some(t) = self.tracked.get_mut(&ip) {
            let last = t.stamps.back().copied();
            while t
                .stamps
                .front()
                .is_some_and(|s| now.saturating_duration_since(*s) >= self.window)
            {
                t.stamps.pop_front();
            }
            t.stamps.push_back(now);
            while t.stamps.len() > self.max_attempts {
                t.stamps.pop_front();
            }
            let n = t.stamps.len();
            if let Some(last) = last {
                self.tracked_order.remove(&(last, ip));
            }
            self.tracked_order.insert((now, ip));
            return n;
        }
        if self.tracked.len() >= self.max_tracked {
            if let Some((_, oldest)) = self.tracked_order.pop_first() {
                self.tracked.remove(&oldest);
                self.stats.tracked_evicted += 1;
            }
        }
        let mut stamps = VecDeque::with_capacity(self.max_attempts.min(8));
        stamps.push_back(now);
        self.tracked.insert(ip, Tracked { stamps });
        self.tracked_order.insert((now, ip));
        1
    }

    fn forget_tracked(&mut self, ip: IpAddr) {
        if let Some(t) = self.tracked.remove(&ip) {
            if let Some(last) = t.stamps.back() {
                self.tracked_order.remove(&(*last, ip));
            }
        }
    }

    /// The length and offence number of `ip`'s next automatic ban.
    fn next_ban(&mut self, ip: IpAddr, now: Instant) -> (u64, u32) {
        if self.ban_secs == 0 {
            return (0, self.take_offender(ip, now).map_or(1, |o| o.offences + 1));
        }
        match self.take_offender(ip, now) {
            Some(o) => {
                let secs = if o.last_secs == 0 {
                    0
                } else {
                    o.last_secs
                        .saturating_mul(self.escalation)
                        .clamp(self.ban_secs, self.ban_max_secs)
                };
                (secs, o.offences.saturating_add(1))
            }
            None => (self.ban_secs, 1),
        }
    }

    /// The remembered offence of `ip`, if its last ban ended within the repeat
    /// window; forgets it either way. A ban that has ended but that handle_timeout
    /// has not yet seen counts too (it is replaced by the new ban).
    fn take_offender(&mut self, ip: IpAddr, now: Instant) -> Option<Offender> {
        if let Some(Some(ended)) = self.bans.get(&ip).map(|a| a.until) {
            let a = &self.bans[&ip];
            let stale = Offender {
                offences: a.ban.offences,
                last_secs: a.ban.secs,
                ended,
            };
            if let Some(o) = self.offenders.remove(&ip) {
                self.offender_order.remove(&(o.ended, ip));
            }
            return Some(stale);
        }
        let o = self.offenders.remove(&ip)?;
        self.offender_order.remove(&(o.ended, ip));
        (now.saturating_duration_since(o.ended) < self.repeat_window).then_some(o)
    }

    fn remember_offender(&mut self, ip: IpAddr, offences: u32, last_secs: u64, ended: Instant) {
        if self.repeat_window.is_zero() || self.escalation <= 1 {
            return;
        }
        if let Some(old) = self.offenders.remove(&ip) {
            self.offender_order.remove(&(old.ended, ip));
        } else if self.offenders.len() >= self.max_bans {
            if let Some((_, oldest)) = self.offender_order.pop_first() {
                self.offenders.remove(&oldest);
                self.stats.offenders_evicted += 1;
            }
        }
        self.offenders.insert(
            ip,
            Offender {
                offences,
                last_secs,
                ended,
            },
        );
        self.offender_order.insert((ended, ip));
    }

    /// Holds a ban (replacing `ip`'s current one), making room if needed, and queues
    /// its store op.
    fn put_ban(
        &mut self,
        ip: IpAddr,
        secs: u64,
        offences: u32,
        reason: &str,
        now: Instant,
    ) -> Result<BanEvent, BanError> {
        let secs = secs.min(MAX_BAN_SECS);
        let mut evicted = None;
        if let Some(old) = self.bans.remove(&ip) {
            if let Some(t) = old.until {
                self.expiry.remove(&(t, ip));
            }
        } else if self.bans.len() >= self.max_bans {
            match self.expiry.pop_first() {
                Some((_, victim)) => {
                    if let Some(a) = self.bans.remove(&victim) {
                        self.store_ops
                            .push_back(BanStoreOp::Delete(a.ban.key(), Durability::Lazy));
                        self.remember_offender(victim, a.ban.offences, a.ban.secs, now);
                    }
                    self.stats.bans_evicted += 1;
                    evicted = Some(victim);
                }
                None => {
                    self.stats.bans_refused += 1;
                    return Err(BanError::Full(self.max_bans));
                }
            }
        }
        let banned_at_unix = self.unix_at(now);
        let until = (secs > 0).then(|| now + Duration::from_secs(secs));
        let ban = Ban {
            ip,
            banned_at_unix,
            expires_at_unix: if secs > 0 { banned_at_unix + secs } else { 0 },
            secs,
            offences,
            reason: reason.to_string(),
        };
        if let Some(t) = until {
            self.expiry.insert((t, ip));
        }
        self.store_ops
            .push_back(BanStoreOp::Put(ban.clone(), Durability::Critical));
        let ev = BanEvent {
            ip,
            reason: ban.reason.clone(),
            detail: String::new(),
            attempts: 0,
            secs,
            expires_at_unix: ban.expires_at_unix,
            banned_at_unix,
            offences,
            evicted,
        };
        self.bans.insert(
            ip,
            Active {
                ban,
                until,
                since: now,
                dropped: AtomicU64::new(0),
            },
        );
        Ok(ev)
    }

    /// `fail2ban ban IP [seconds]`: bans `ip` for `secs` (None: ban-time; 0:
    /// permanent), replacing a ban it has. Works with enabled=false too (the operator
    /// asked); refused for a whitelisted address.
    pub fn ban(
        &mut self,
        ip: IpAddr,
        secs: Option<u64>,
        now: Instant,
    ) -> Result<BanEvent, BanError> {
        let ip = canonical(ip);
        if let Some(c) = self.whitelisted(ip) {
            return Err(BanError::Whitelisted(ip, c));
        }
        let offences = self.bans.get(&ip).map_or(1, |a| a.ban.offences);
        self.forget_tracked(ip);
        let ev = self.put_ban(ip, secs.unwrap_or(self.ban_secs), offences, API_REASON, now)?;
        self.stats.api_bans += 1;
        Ok(ev)
    }

    /// `fail2ban unban IP`: lifts `ip`'s ban and forgets its offences (the operator
    /// says it was a mistake). None when it was not banned.
    pub fn unban(&mut self, ip: IpAddr, now: Instant) -> Option<UnbanEvent> {
        let ip = canonical(ip);
        let a = self.bans.remove(&ip)?;
        if let Some(t) = a.until {
            self.expiry.remove(&(t, ip));
        }
        if let Some(o) = self.offenders.remove(&ip) {
            self.offender_order.remove(&(o.ended, ip));
        }
        self.forget_tracked(ip);
        self.store_ops
            .push_back(BanStoreOp::Delete(a.ban.key(), Durability::Critical));
        self.stats.api_unbans += 1;
        Some(UnbanEvent {
            ip,
            reason: UnbanReason::Api,
            held_secs: now.saturating_duration_since(a.since).as_secs(),
        })
    }

    /// `fail2ban clear`: lifts every ban, forgets every count and offence. The store
    /// deletes are lazy but the last, which syncs them all.
    pub fn clear(&mut self, now: Instant) -> Vec<UnbanEvent> {
        let mut events: Vec<UnbanEvent> = self
            .bans
            .drain()
            .map(|(ip, a)| {
                self.store_ops
                    .push_back(BanStoreOp::Delete(a.ban.key(), Durability::Lazy));
                UnbanEvent {
                    ip,
                    reason: UnbanReason::Cleared,
                    held_secs: now.saturating_duration_since(a.since).as_secs(),
                }
            })
            .collect();
        if let Some(BanStoreOp::Delete(_, d)) = self.store_ops.back_mut() {
            *d = Durability::Critical;
        }
        events.sort_by_key(|e| e.ip);
        self.stats.cleared += events.len() as u64;
        self.expiry.clear();
        self.tracked.clear();
        self.tracked_order.clear();
        self.offenders.clear();
        self.offender_order.clear();
        events
    }

    /// When [`Fail2ban::handle_timeout`] has something to do: a ban ends, or a
    /// counted source or past offender can be forgotten.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ban = self.expiry.first().map(|(t, _)| *t);
        let tracked = self.tracked_order.first().map(|(t, _)| *t + self.window);
        let offender = self
            .offender_order
            .first()
            .map(|(t, _)| *t + self.repeat_window);
        [ban, tracked, offender].into_iter().flatten().min()
    }

    /// Ends the bans due at `now` (their store deletes are lazy: a ban restored after
    /// its end is dropped then) and forgets stale counts and offences.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<UnbanEvent> {
        let mut events = Vec::new();
        while let Some(&(t, ip)) = self.expiry.first() {
            if t > now {
                break;
            }
            self.expiry.pop_first();
            if let Some(a) = self.bans.remove(&ip) {
                self.store_ops
                    .push_back(BanStoreOp::Delete(a.ban.key(), Durability::Lazy));
                self.remember_offender(ip, a.ban.offences, a.ban.secs, t);
                self.stats.expired += 1;
                events.push(UnbanEvent {
                    ip,
                    reason: UnbanReason::Expired,
                    held_secs: t.saturating_duration_since(a.since).as_secs(),
                });
            }
        }
        while let Some(&(t, ip)) = self.tracked_order.first() {
            if t + self.window > now {
                break;
            }
            self.tracked_order.pop_first();
            self.tracked.remove(&ip);
        }
        while let Some(&(t, ip)) = self.offender_order.first() {
            if t + self.repeat_window > now {
                break;
            }
            self.offender_order.pop_first();
            self.offenders.remove(&ip);
        }
        events
    }

    /// The next change to persist.
    pub fn poll_store_op(&mut self) -> Option<BanStoreOp> {
        self.store_ops.pop_front()
    }

    /// Loads the bans the store held (at start), re-anchoring the wall clock. Ended
    /// ones, whitelisted ones and those beyond max-bans are deleted (store ops); a
    /// ban whose end is further away than its length (the wall clock was behind, e.g.
    /// no RTC at boot) is held for its length and rewritten. Ended bans within the
    /// repeat window are remembered as offences.
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = Ban>,
        now: Instant,
        now_unix: u64,
    ) -> RestoreReport {
        self.anchor = (now, now_unix);
        let mut report = RestoreReport::default();
        // Permanent first, then longest remaining: when more than max-bans are stored,
        // the ones nearest their end are the ones dropped.
        let mut records: Vec<Ban> = records.into_iter().collect();
        records.sort_by_key(|b| {
            std::cmp::Reverse(if b.is_permanent() {
                u64::MAX
            } else {
                b.expires_at_unix.saturating_sub(now_unix).min(b.secs)
            })
        });
        for mut b in records {
            b.ip = canonical(b.ip);
            let key = b.key();
            if self.whitelisted(b.ip).is_some() {
                report.whitelisted += 1;
                self.store_ops
                    .push_back(BanStoreOp::Delete(key, Durability::Lazy));
                continue;
            }
            let until = if b.is_permanent() {
                None
            } else {
                let left = b.expires_at_unix.saturating_sub(now_unix);
                if left == 0 {
                    report.expired += 1;
                    let ago = now_unix - b.expires_at_unix;
                    if let Some(ended) = now.checked_sub(Duration::from_secs(ago)) {
                        if Duration::from_secs(ago) < self.repeat_window {
                            self.remember_offender(b.ip, b.offences, b.secs, ended);
                        }
                    }
                    self.store_ops
                        .push_back(BanStoreOp::Delete(key, Durability::Lazy));
                    continue;
                }
                if left > b.secs {
                    report.shortened += 1;
                    b.banned_at_unix = now_unix;
                    b.expires_at_unix = now_unix + b.secs;
                    self.store_ops
                        .push_back(BanStoreOp::Put(b.clone(), Durability::Lazy));
                }
                Some(now + Duration::from_secs(left.min(b.secs)))
            };
            if self.bans.len() >= self.max_bans && !self.bans.contains_key(&b.ip) {
                report.dropped += 1;
                self.stats.bans_refused += 1;
                self.store_ops
                    .push_back(BanStoreOp::Delete(key, Durability::Lazy));
                continue;
            }
            if let Some(t) = until {
                self.expiry.insert((t, b.ip));
            }
            if let Some(old) = self.bans.insert(
                b.ip,
                Active {
                    ban: b.clone(),
                    until,
                    since: now,
                    dropped: AtomicU64::new(0),
                },
            ) {
                if let Some(t) = old.until {
                    self.expiry.remove(&(t, b.ip));
                }
            } else {
                report.restored += 1;
            }
        }
        report
    }

    /// The bans held at `now`, oldest first.
    pub fn list(&self, now: Instant) -> Vec<BanInfo> {
        let mut v: Vec<BanInfo> = self
            .bans
            .values()
            .filter(|a| a.until.is_none_or(|t| now < t))
            .map(|a| BanInfo {
                ip: a.ban.ip,
                reason: a.ban.reason.clone(),
                banned_at_unix: a.ban.banned_at_unix,
                expires_at_unix: a.ban.expires_at_unix,
                remaining_secs: a.until.map(|t| {
                    let d = t.saturating_duration_since(now);
                    // Rounded up: a ban with 0.4 s left is still there.
                    d.as_secs() + u64::from(d.subsec_nanos() > 0)
                }),
                offences: a.ban.offences,
                dropped: a.dropped.load(Ordering::Relaxed),
            })
            .collect();
        v.sort_by_key(|a| (a.banned_at_unix, a.ip));
        v
    }

    pub fn stats(&self) -> Fail2banStats {
        Fail2banStats {
            dropped: self.dropped.load(Ordering::Relaxed),
            active_bans: self.bans.len(),
            permanent_bans: self.bans.values().filter(|a| a.until.is_none()).count(),
            tracked: self.tracked.len(),
            offenders: self.offenders.len(),
            max_bans: self.max_bans,
            max_tracked: self.max_tracked,
            enabled: self.enabled,
            ..self.stats.clone()
        }
    }
}

#[cfg(test)]
#[path = "fail2ban_tests.rs"]
mod tests;
