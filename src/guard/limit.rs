//! mod_limit with mod_hash's backend: the `limit` application, and the `limit_usage`,
//! `limit_hash_usage`, `limit_status`, `limit_interval_reset` and `hash_dump` APIs.
//!
//! What FreeSWITCH does, and this module does the same:
//!
//! * `limit BACKEND REALM RESOURCE [MAX[/INTERVAL]] [NUMBER [DIALPLAN [CONTEXT]]]`
//!   (mod_dptools `limit_function`): split as `switch_separate_string` (7 words, the
//!   last keeps the rest). Fewer than 3 words: a usage error and nothing else. MAX
//!   starting with `-` (`-1`, `-`): no limit, only counting; otherwise C `atoi` (`10x`
//!   is 10, `abc` is 0) and never below 0. INTERVAL is `atoi` too; 0 or less: a
//!   concurrency limit. No MAX at all: counting only.
//! * Over the limit, the call goes to NUMBER, default `limit_exceeded`, in DIALPLAN and
//!   CONTEXT when given (else the channel's own, as `switch_ivr_session_transfer`
//!   chooses); NUMBER `!CAUSE` hangs up with that cause instead. A backend other than
//!   `hash` does not exist here and counts as over the limit (`switch_limit_incr`
//!   fails, so `limit_function` transfers).
//! * The hash backend (mod_hash `limit_incr_hash`) keys items `REALM_RESOURCE`.
//!   Concurrency (no INTERVAL): a call passes when `usage + 1 <= MAX` (a call that
//!   already holds the key does not count again). Rate (INTERVAL > 0) is a fixed window
//!   that starts with the first call after the previous one expired: that call resets
//!   the rate to 1 and always passes; later calls in the window add 1 each, *also when
//!   refused*, and are refused above MAX. A rate limit does not check concurrency (the
//!   usage is still counted). So `10/60` passes the first 10 calls of a window that
//!   opens at the first of them and lasts 60 s; the 11th to the window's end are
//!   refused.
//! * A call that passes sets `limit_usage`, `limit_usage_REALM_RESOURCE`, `limit_rate`
//!   and `limit_rate_REALM_RESOURCE`, and `limit_backend` (switch_limit.c); the first
//!   pass of a call on a key fires CUSTOM `limit::usage` (backend, realm, key, usage,
//!   rate, max, ratemax). A refused call sets nothing.
//! * The usage is released when the call hangs up, and also when it is transferred
//!   (goes back to ROUTING) unless `limit_ignore_transfer` is true (switch_limit.c
//!   `limit_state_handler`); releasing drops every key the call holds; an item with no
//!   usage and no rate left is freed. Every 900 s, items whose window passed lose their
//!   rate, and items left with nothing are freed (`limit_hash_cleanup_callback`).
//!
//! loopstart adds a bound: at most `max_keys` items; when full, the cleanup runs at
//! once, and if still full the call is refused (counted in [`Stats::refused_full`]),
//! so an attacker cycling caller ids cannot grow memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use super::args::{atoi, separate_blank};

/// `LIMIT_DEF_XFER_EXTEN`.
pub const DEFAULT_TRANSFER_EXTENSION: &str = "limit_exceeded";
/// mod_hash's `LIMIT_HASH_CLEANUP_INTERVAL`, seconds.
pub const CLEANUP_INTERVAL_SECS: u64 = 900;
/// `LIMIT_IGNORE_TRANSFER_VARIABLE`.
pub const IGNORE_TRANSFER_VARIABLE: &str = "limit_ignore_transfer";
/// `LIMIT_BACKEND_VARIABLE`.
pub const BACKEND_VARIABLE: &str = "limit_backend";
/// `LIMIT_EVENT_USAGE` (a CUSTOM event subclass).
pub const USAGE_EVENT_SUBCLASS: &str = "limit::usage";
/// mod_dptools' `LIMIT_USAGE`.
pub const LIMIT_APP_SYNTAX: &str =
    "<backend> <realm> <id> [<max>[/interval]] [number [dialplan [context]]]";
/// The default for [`HashLimits::new`]'s bound.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// What to do with a call over its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnExceed {
    /// `switch_ivr_session_transfer(extension, dialplan, context)`: None means the
    /// channel's own (or `force_transfer_dialplan` / `force_transfer_context`).
    Transfer {
        extension: String,
        dialplan: Option<String>,
        context: Option<String>,
    },
    /// `!CAUSE`: hang up. The text after `!`, for `switch_channel_str2cause`: a number
    /// is a Q.850 code, a name is looked up case-insensitively, anything else (or
    /// nothing) is NORMAL_CLEARING.
    Hangup { cause: String },
}

/// The `limit` application's data, parsed as mod_dptools does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitArgs {
    pub backend: String,
    pub realm: String,
    pub resource: String,
    /// -1: no limit (count only).
    pub max: i64,
    /// Seconds; 0: a concurrency limit.
    pub interval: u64,
    pub on_exceed: OnExceed,
}

/// `limit` with fewer than three words: FreeSWITCH logs this and does nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError;

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "USAGE: limit {LIMIT_APP_SYNTAX}")
    }
}

impl LimitArgs {
    pub fn parse(data: &str) -> Result<LimitArgs, UsageError> {
        let argv = separate_blank(data, 7);
        if argv.len() < 3 {
            return Err(UsageError);
        }
        let (mut max, mut interval) = (-1i64, 0u64);
        if let Some(m) = argv.get(3) {
            if !m.starts_with('-') {
                let (m, i) = match m.split_once('/') {
                    Some((m, i)) => (m, atoi(i)),
                    None => (m.as_str(), 0),
                };
                interval = u64::try_from(i.max(0)).unwrap_or(0);
                max = atoi(m).clamp(0, i64::from(u32::MAX));
            }
        }
        let on_exceed = match argv.get(4) {
            Some(x) => match x.strip_prefix('!') {
                Some(cause) => OnExceed::Hangup {
                    cause: cause.to_string(),
                },
                None => OnExceed::Transfer {
                    extension: x.clone(),
                    dialplan: argv.get(5).cloned(),
                    context: argv.get(6).cloned(),
                },
            },
            None => OnExceed::Transfer {
                extension: DEFAULT_TRANSFER_EXTENSION.into(),
                dialplan: None,
                context: None,
            },
        };
        Ok(LimitArgs {
            backend: argv[0].clone(),
            realm: argv[1].clone(),
            resource: argv[2].clone(),
            max,
            interval,
            on_exceed,
        })
    }
}

/// CUSTOM `limit::usage`, fired when a call first takes a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEvent {
    pub realm: String,
    pub resource: String,
    pub usage: u32,
    pub rate: u32,
    pub max: i64,
}

impl UsageEvent {
    /// The headers in FreeSWITCH's order (`switch_limit_fire_event`): `max` is -1 for
    /// no limit, `ratemax` 0 then.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Event-Subclass", USAGE_EVENT_SUBCLASS.to_string()),
            ("backend", "hash".to_string()),
            ("realm", self.realm.clone()),
            ("key", self.resource.clone()),
            ("usage", self.usage.to_string()),
            ("rate", self.rate.to_string()),
            ("max", self.max.to_string()),
            ("ratemax", self.max.max(0).to_string()),
        ]
    }
}

/// Why a call was refused (for the log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// "Usage for KEY is already at max value (N)".
    Concurrent,
    /// "Usage for KEY exceeds maximum rate of MAX/INTERVALs, now at N".
    Rate,
    /// "Limit subsystem BACKEND not found!".
    UnknownBackend,
    /// loopstart's bound on items was hit.
    TableFull,
}

/// The `limit` application's outcome, for the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Set `variables` on the channel; fire `event` when there is one.
    Allowed {
        variables: Vec<(String, String)>,
        event: Option<UsageEvent>,
    },
    /// Transfer or hang up; nothing is set on the channel.
    Exceeded { on_exceed: OnExceed, why: Refusal },
}

/// Counters for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub allowed: u64,
    pub refused: u64,
    pub refused_full: u64,
}

/// mod_hash's `limit_hash_item_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub total_usage: u32,
    pub rate_usage: u32,
    /// Epoch seconds of the current window's start.
    pub last_check: u64,
    /// The interval of the last rate check.
    pub interval: u64,
}

/// The hash backend's table and which keys each call holds.
#[derive(Debug)]
pub struct HashLimits {
    items: BTreeMap<String, Item>,
    calls: HashMap<String, BTreeSet<String>>,
    max_keys: usize,
    next_cleanup: u64,
    stats: Stats,
}

impl HashLimits {
    pub fn new(max_keys: usize) -> HashLimits {
        HashLimits {
            items: BTreeMap::new(),
            calls: HashMap::new(),
            max_keys: max_keys.max(1),
            next_cleanup: 0,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn item(&self, realm: &str, resource: &str) -> Option<&Item> {
        self.items.get(&key(realm, resource))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `limit` application for call `call` (its uuid), at epoch second `now`.
    pub fn limit_app(&mut self, call: &str, data: &str, now: u64) -> Result<Decision, UsageError> {
        let args = LimitArgs::parse(data)?;
        Ok(self.incr(call, &args, now))
    }

    /// `switch_limit_incr` with the hash backend.
    pub fn incr(&mut self, call: &str, args: &LimitArgs, now: u64) -> Decision {
        if args.backend != "hash" {
            tracing::error!(backend = %args.backend, call, "Limit subsystem {} not found!", args.backend);
            return self.refuse(args, Refusal::UnknownBackend);
        }
        self.cleanup_if_due(now);
        let k = key(&args.realm, &args.resource);
        if !self.items.contains_key(&k) && self.items.len() >= self.max_keys {
            self.cleanup(now);
            if self.items.len() >= self.max_keys {
                self.stats.refused_full += 1;
                tracing::warn!(key = %k, call, max_keys = self.max_keys, "limit table full; call refused");
                return self.refuse(args, Refusal::TableFull);
            }
        }
        let increment = !self.calls.get(call).is_some_and(|keys| keys.contains(&k));
        let item = self.items.entry(k.clone()).or_default();
        let (max, interval) = (args.max, args.interval);
        if interval > 0 {
            item.interval = interval;
            if item.last_check.saturating_add(interval) <= now {
                item.rate_usage = 1;
                item.last_check = now;
            } else {
                item.rate_usage = item.rate_usage.saturating_add(1);
                if max >= 0 && i64::from(item.rate_usage) > max {
                    tracing::info!(key = %k, call, "Usage for {k} exceeds maximum rate of {max}/{interval}s, now at {}", item.rate_usage);
                    return self.refuse(args, Refusal::Rate);
                }
            }
        } else if max >= 0 && i64::from(item.total_usage) + i64::from(increment) > max {
            tracing::info!(key = %k, call, "Usage for {k} is already at max value ({})", item.total_usage);
            return self.refuse(args, Refusal::Concurrent);
        }
        let mut event = None;
        if increment {
            item.total_usage = item.total_usage.saturating_add(1);
            event = Some(UsageEvent {
                realm: args.realm.clone(),
                resource: args.resource.clone(),
                usage: item.total_usage,
                rate: item.rate_usage,
                max,
            });
        }
        let (usage, rate) = (item.total_usage.to_string(), item.rate_usage.to_string());
        if increment {
            self.calls
                .entry(call.to_string())
                .or_default()
                .insert(k.clone());
        }
        self.stats.allowed += 1;
        Decision::Allowed {
            variables: vec![
                ("limit_usage".into(), usage.clone()),
                (format!("limit_usage_{k}"), usage),
                ("limit_rate".into(), rate.clone()),
                (format!("limit_rate_{k}"), rate),
                (BACKEND_VARIABLE.into(), "hash".into()),
            ],
            event,
        }
    }

    fn refuse(&mut self, args: &LimitArgs, why: Refusal) -> Decision {
        self.stats.refused += 1;
        Decision::Exceeded {
            on_exceed: args.on_exceed.clone(),
            why,
        }
    }

    /// Releases every key `call` holds (hangup, or transfer without
    /// `limit_ignore_transfer`). Releasing twice, or a call that holds nothing, does
    /// nothing.
    pub fn release_call(&mut self, call: &str) {
        if let Some(keys) = self.calls.remove(call) {
            for k in keys {
                self.release_key(&k);
            }
        }
    }

    /// Releases one key of `call` (`switch_limit_release` with realm and resource, as
    /// `limit_execute` does after its application).
    pub fn release(&mut self, call: &str, realm: &str, resource: &str) {
        let k = key(realm, resource);
        let held = match self.calls.get_mut(call) {
            Some(keys) => keys.remove(&k),
            None => false,
        };
        if self.calls.get(call).is_some_and(BTreeSet::is_empty) {
            self.calls.remove(call);
        }
        if held {
            self.release_key(&k);
        }
    }

    fn release_key(&mut self, k: &str) {
        if let Some(item) = self.items.get_mut(k) {
            item.total_usage = item.total_usage.saturating_sub(1);
            if item.total_usage == 0 && item.rate_usage == 0 {
                self.items.remove(k);
            }
        }
    }

    /// Runs [`HashLimits::cleanup`] when its 900 s are up; returns when it is next due.
    pub fn cleanup_if_due(&mut self, now: u64) -> u64 {
        if now >= self.next_cleanup {
            self.cleanup(now);
            self.next_cleanup = now.saturating_add(CLEANUP_INTERVAL_SECS);
        }
        self.next_cleanup
    }

    /// `limit_hash_cleanup_callback`: rates of passed windows drop to 0; items with
    /// neither usage nor rate are freed.
    pub fn cleanup(&mut self, now: u64) {
        self.items.retain(|_, item| {
            if item.rate_usage > 0 && item.last_check.saturating_add(item.interval) <= now {
                item.rate_usage = 0;
            }
            item.total_usage > 0 || item.rate_usage > 0
        });
    }

    /// `(usage, rate)` of a key (`limit_usage_hash`); 0s when unknown.
    pub fn usage(&self, realm: &str, resource: &str) -> (u32, u32) {
        self.item(realm, resource)
            .map_or((0, 0), |i| (i.total_usage, i.rate_usage))
    }

    /// `limit_interval_reset_hash`: the window restarts now with a rate of 0.
    pub fn interval_reset(&mut self, realm: &str, resource: &str, now: u64) {
        if let Some(i) = self.items.get_mut(&key(realm, resource)) {
            i.rate_usage = 0;
            i.last_check = now;
        }
    }

    /// The `limit_usage` API: `BACKEND REALM ID [rate]`.
    pub fn api_limit_usage(&self, cmd: &str) -> String {
        let mut argv = separate_blank(cmd, 5);
        if argv.len() == 2 {
            // FreeSWITCH's backwards-compatible form: the db backend, which loopstart
            // does not have.
            argv.insert(0, "db".into());
        }
        if argv.len() < 3 {
            return "USAGE: limit_usage <backend> <realm> <id> [rate]\n".into();
        }
        let rate = argv.get(3).is_some_and(|r| r.eq_ignore_ascii_case("rate"));
        let (count, rcount) = if argv[0] == "hash" {
            self.usage(&argv[1], &argv[2])
        } else {
            tracing::error!(backend = %argv[0], "Limit subsystem {} not found!", argv[0]);
            (0, 0)
        };
        if rate {
            format!("{count}/{rcount}")
        } else {
            count.to_string()
        }
    }

    /// The deprecated `limit_hash_usage` API: `REALM ID [rate]`.
    pub fn api_limit_hash_usage(&self, cmd: &str) -> String {
        if cmd.is_empty() {
            return "USAGE: limit_hash_usage <realm> <id> [rate] (Using deprecated limit api, \
                    check limit_usage with backend param)\n"
                .into();
        }
        self.api_limit_usage(&format!("hash {cmd}"))
    }

    /// The `limit_status` API: mod_hash answers that it cannot.
    pub fn api_limit_status(&self, cmd: &str) -> String {
        match separate_blank(cmd, 2).first() {
            None => "USAGE: limit_status <backend>\n".into(),
            Some(b) if b == "hash" => "-ERR not supported yet (locking problems).".into(),
            Some(_) => "-ERR".into(),
        }
    }

    /// The `limit_interval_reset` API: `BACKEND REALM RESOURCE`.
    pub fn api_limit_interval_reset(&mut self, cmd: &str, now: u64) -> String {
        let argv = separate_blank(cmd, 5);
        if argv.len() < 3 {
            return "USAGE: limit_interval_reset <backend> <realm> <resource>\n".into();
        }
        if argv[0] == "hash" {
            self.interval_reset(&argv[1], &argv[2], now);
        } else {
            tracing::error!(backend = %argv[0], "Limit subsystem {} not found!", argv[0]);
        }
        "+OK".into()
    }

    /// The `hash_dump` API: `all|limit|db [REALM]`. Limit items print as
    /// `L/KEY/USAGE/RATE/INTERVAL/LAST_CHECK` (sorted here; FreeSWITCH prints hash
    /// order). As in mod_hash the realm filters only `db` entries, and loopstart keeps
    /// no `hash insert` db, so `db` prints nothing.
    pub fn api_hash_dump(&self, cmd: &str) -> String {
        const USAGE: &str = "Usage: all|limit|db [<realm>]\n";
        let argv = separate_blank(cmd, 4);
        let Some(mode) = argv.first().filter(|m| !m.is_empty()) else {
            return USAGE.into();
        };
        let limit = match mode.as_str() {
            "all" | "limit" => true,
            "db" => false,
            _ => return USAGE.into(),
        };
        let mut s = String::new();
        if limit {
            for (k, i) in &self.items {
                let _ = writeln!(
                    s,
                    "L/{k}/{}/{}/{}/{}",
                    i.total_usage, i.rate_usage, i.interval, i.last_check
                );
            }
        }
        s
    }
}

/// mod_hash's key: `REALM_RESOURCE`.
fn key(realm: &str, resource: &str) -> String {
    format!("{realm}_{resource}")
}

#[cfg(test)]
#[path = "limit_tests.rs"]
mod tests;
