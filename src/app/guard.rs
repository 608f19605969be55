//! The guard at run time: one fail2ban for the box, asked about every datagram's
//! source before it is parsed (by the SIP driver), shown every request before the SIP
//! core acts on it (a scanner's probe is a failure or a ban at once, and is dropped),
//! and told of every failure (wrong digest, unknown user, a request from outside an
//! ACL, a wrong event socket password). Bans go to sled before the API says they are in place, so they survive a
//! power cut; expiries are lazy. Each ban and unban is an event
//! (`CUSTOM fail2ban::ban` / `fail2ban::unban`) and, with `logfile`, a line in
//! mod_fail2ban's format for an external fail2ban.

use super::StartError;
use crate::config::fail2ban::{Fail2banConfig, LogFormat};
use crate::config::flood::ScannerAction;
use crate::esl::{ApiRegistry, EslEvent};
use crate::guard::ban_record::Ban;
use crate::guard::fail2ban::{BanEvent, BanStoreOp, Fail2ban, FailureKind, UnbanEvent};
use crate::guard::flood::{Flood, Verdict};
use crate::guard::scanner::{RequestView, Scanner};
use crate::guard::{fail2ban_api, fail2ban_log};
use crate::sip::core::{AddressCheck, RequestScreen};
use crate::sip::wire::{Essentials, Request};
use crate::store::{Durability, Store, Tree};
use crate::switch::event::{Event, EventName, Stamp};
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The box's fail2ban, shared by the tasks that see sources.
pub struct Guard {
    fail2ban: RwLock<Fail2ban>,
    /// Only the SIP driver's task checks it, once per datagram: never contended.
    flood: Mutex<Flood>,
    scanner: Scanner,
    bans: Tree<Ban>,
    events: EventSource,
    /// The guard's own event sequence (the switch keeps its own).
    sequence: AtomicU64,
    log: Option<(Mutex<std::fs::File>, LogFormat)>,
}

/// The flood detector's counters, in `fail2ban stats`' `name: value` lines.
fn flood_stats(f: &Flood) -> String {
    let s = f.stats();
    [
        ("flood-tracked", s.tracked as u64),
        ("flood-blocked", s.blocked as u64),
        ("floods", s.floods),
        ("flood-dropped", s.dropped),
        ("flood-released", s.released),
        ("flood-evicted-clean", s.evicted_clean),
        ("flood-evicted-blocked", s.evicted_blocked),
    ]
    .iter()
    .map(|(name, value)| format!("{name}: {value}\n"))
    .collect()
}

/// Where the guard's events go, and what stamps them as this box's.
pub struct EventSource {
    pub events: broadcast::Sender<EslEvent>,
    pub core_uuid: String,
    pub hostname: String,
    /// Seconds east of UTC, for local stamps (events, the logfile).
    pub utc_offset: i32,
}

fn unix_s() -> u64 {
    super::driver::unix_ms() / 1000
}

impl Guard {
    /// Restores the stored bans; an unreadable record is logged and dropped.
    pub fn start(
        cfg: &Fail2banConfig,
        store: &Store,
        events: EventSource,
    ) -> Result<Arc<Guard>, StartError> {
        let bans = store
            .tree::<Ban>()
            .map_err(|e| StartError(format!("cannot open the ban list: {e}")))?;
        let mut records = Vec::new();
        for (key, item) in bans.iter() {
            match item {
                Ok(b) => records.push(b),
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), error = %e, "dropping an unreadable ban");
                    let _ = bans.remove(&key, Durability::Lazy);
                }
            }
        }
        let now = Instant::now();
        let mut f = Fail2ban::new(cfg, now, unix_s());
        let report = f.restore(records, now, unix_s());
        if report.restored > 0 {
            tracing::info!(
                bans = report.restored,
                expired = report.expired,
                "bans restored"
            );
        }
        let log = match &cfg.logfile {
            None => None,
            Some(path) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(file) => Some((Mutex::new(file), cfg.log_format)),
                Err(e) => {
                    return Err(StartError(format!(
                        "fail2ban logfile {}: {e} (at {}; fix the path or remove the param)",
                        path.display(),
                        cfg.source
                    )))
                }
            },
        };
        let guard = Guard {
            fail2ban: RwLock::new(f),
            flood: Mutex::new(Flood::new(&cfg.flood, cfg.whitelist.clone(), now)),
            scanner: Scanner::new(&cfg.scanners),
            bans,
            events,
            sequence: AtomicU64::new(0),
            log,
        };
        if let Ok(mut f) = guard.fail2ban.write() {
            guard.persist(&mut f);
        }
        Ok(Arc::new(guard))
    }

    /// Whether a SIP datagram (or a message on a connection) from `ip` may be parsed:
    /// not when `ip` is banned or flooding. The first datagram of a flood is reported
    /// (a log line, and a failure for fail2ban); the rest are dropped quietly.
    pub fn admit(&self, ip: IpAddr) -> bool {
        if self.is_banned(ip) {
            return false;
        }
        let verdict = match self.flood.lock() {
            Ok(mut f) => f.check(ip, Instant::now()),
            Err(_) => Verdict::Pass,
        };
        match verdict {
            Verdict::Pass => true,
            Verdict::Flooding { first } => {
                if first {
                    tracing::warn!(%ip, "SIP flood: dropping this source's requests while it floods");
                    self.failure(ip, FailureKind::Flood, "", "request flood");
                }
                false
            }
        }
    }

    /// Whether `ip` is banned now: its datagrams are dropped before parsing.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.fail2ban
            .read()
            .is_ok_and(|f| f.is_banned(ip, Instant::now()))
    }

    /// A failure from `ip`; bans it when it is one too many.
    pub fn failure(&self, ip: IpAddr, kind: FailureKind, user: &str, detail: &str) {
        let Ok(mut f) = self.fail2ban.write() else {
            return;
        };
        let ban = f.record_failure(ip, kind, detail, Instant::now());
        self.persist(&mut f);
        drop(f);
        self.log_line(kind, user, ip);
        if let Some(b) = ban {
            self.announce(&[b], &[]);
        }
    }

    /// Whether a source may open a connection (SIP over TCP): not while banned.
    pub fn admission(self: &Arc<Self>) -> AddressCheck {
        let guard = self.clone();
        AddressCheck(Arc::new(move |ip| !guard.is_banned(ip)))
    }

    /// The SIP cores' screen: a request that gives a scanner away costs its source
    /// what `<scanners action>` says, and is dropped unanswered once the source is
    /// banned.
    pub fn screen(self: &Arc<Self>) -> RequestScreen {
        let guard = self.clone();
        RequestScreen(Arc::new(move |ip, req, es| {
            guard.screen_request(ip, req, es)
        }))
    }

    fn screen_request(&self, ip: IpAddr, req: &Request, es: &Essentials) -> bool {
        let view = RequestView {
            user_agent: req.headers.get("User-Agent"),
            from: req.headers.get("From").unwrap_or_default(),
            to: req.headers.get("To").unwrap_or_default(),
            contact: req.headers.get("Contact"),
        };
        let Some(hit) = self.scanner.classify(&view) else {
            return false;
        };
        let user = es.to.uri.user.as_deref().unwrap_or_default();
        let method = req.method.as_str();
        tracing::warn!(%ip, user, method, reason = %hit.reason, action = hit.action.as_str(),
            "SIP scanner");
        if hit.action == ScannerAction::Log {
            return false;
        }
        self.failure(ip, FailureKind::Scanner, user, &hit.reason.to_string());
        self.is_banned(ip)
    }

    /// Ends the bans whose time is up, and the floods that calmed down.
    pub fn tick(&self) {
        if let Ok(mut flood) = self.flood.lock() {
            flood.expire(Instant::now());
        }
        let Ok(mut f) = self.fail2ban.write() else {
            return;
        };
        let now = Instant::now();
        if f.poll_timeout().is_none_or(|at| at > now) {
            return;
        }
        let unbans = f.handle_timeout(now);
        self.persist(&mut f);
        drop(f);
        self.announce(&[], &unbans);
    }

    /// `fail2ban list|stats|ban IP [seconds]|unban IP|clear`.
    pub fn register_api(self: &Arc<Self>, registry: &mut ApiRegistry) {
        let guard = self.clone();
        registry.register_fn(
            "fail2ban",
            "list|stats|ban <ip> [seconds]|unban <ip>|clear|check <ip>|failure <kind> <ip> [user]",
            "Show and change the sources banned for failing too often",
            move |args| {
                let guard = guard.clone();
                Box::pin(async move { Ok(guard.api(&args)) })
            },
        );
    }

    fn api(&self, args: &str) -> String {
        let Ok(mut f) = self.fail2ban.write() else {
            return "-ERR the ban list is unavailable\n".into();
        };
        let mut out = fail2ban_api::execute(&mut f, args, Instant::now(), self.events.utc_offset);
        // A failure another process reports goes to the log an external fail2ban reads.
        if let Ok(fail2ban_api::Command::Failure { kind, ip, user }) = fail2ban_api::parse(args) {
            self.log_line(kind, &user, ip);
        }
        if args.trim().eq_ignore_ascii_case("stats") {
            if let Ok(flood) = self.flood.lock() {
                out.reply.push_str(&flood_stats(&flood));
            }
        }
        // A ban is on disk before the operator is told it is in place.
        self.persist(&mut f);
        drop(f);
        self.announce(&out.bans, &out.unbans);
        out.reply
    }

    /// Writes the ban list's changes; one sync covers the critical ones.
    fn persist(&self, f: &mut Fail2ban) {
        let mut sync = false;
        while let Some(op) = f.poll_store_op() {
            let result = match &op {
                BanStoreOp::Put(ban, d) => {
                    sync |= *d == Durability::Critical;
                    self.bans.insert(&ban.key(), ban, Durability::Lazy)
                }
                BanStoreOp::Delete(key, d) => {
                    sync |= *d == Durability::Critical;
                    self.bans.remove(key, Durability::Lazy)
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "could not store a ban change");
            }
        }
        if sync {
            if let Err(e) = self.bans.sync() {
                tracing::error!(error = %e, "could not sync the ban list: a ban may not survive a power cut");
            }
        }
    }

    fn log_line(&self, kind: FailureKind, user: &str, ip: IpAddr) {
        let Some((file, format)) = &self.log else {
            return;
        };
        let line = fail2ban_log::failure_line(
            *format,
            kind,
            user,
            ip,
            super::driver::unix_us(),
            self.events.utc_offset,
        );
        if let Ok(mut f) = file.lock() {
            if let Err(e) = writeln!(f, "{line}") {
                tracing::warn!(error = %e, "cannot write the fail2ban logfile");
            }
        }
    }

    fn announce(&self, bans: &[BanEvent], unbans: &[UnbanEvent]) {
        for b in bans {
            tracing::warn!(ip = %b.ip, reason = %b.reason, "source banned");
            self.event("fail2ban::ban", fail2ban_api::ban_event_headers(b));
        }
        for u in unbans {
            tracing::info!(ip = %u.ip, reason = u.reason.name(), "source unbanned");
            self.event("fail2ban::unban", fail2ban_api::unban_event_headers(u));
        }
    }

    fn event(&self, subclass: &str, headers: Vec<(String, String)>) {
        let out = &self.events;
        if out.events.receiver_count() == 0 {
            return;
        }
        let stamp = Stamp {
            core_uuid: &out.core_uuid,
            hostname: &out.hostname,
            unix_us: super::driver::unix_us(),
            utc_offset: out.utc_offset,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let mut e = Event::new(EventName::Custom, &stamp);
        e.add("Event-Subclass", subclass);
        for (n, v) in &headers {
            e.add(n, v);
        }
        let _ = out.events.send(EslEvent {
            headers: e.headers,
            body: None,
        });
    }
}

/// Ends bans on time, once a second.
pub async fn expire_bans(guard: Arc<Guard>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        guard.tick();
    }
}
