//! The `fail2ban` API command and the ban/unban events, pure: parse the arguments, run
//! them against a [`Fail2ban`], format the reply the way FreeSWITCH's API commands
//! answer (`+OK ...`, `-ERR ...`, `-USAGE: ...`; tables as `show` prints them: a CSV
//! header, the rows, a blank line and `N total.`), and give the events to fire.
//!
//! ```text
//! fail2ban list                  the bans held
//! fail2ban stats                 counters, limits and their hits
//! fail2ban ban IP [seconds]      ban (default: ban-time; 0 = permanent)
//! fail2ban unban IP              lift a ban, forget the source's offences
//! fail2ban clear                 lift every ban
//! fail2ban check IP              `+OK banned` or `+OK not banned`
//! fail2ban failure KIND IP [USER]  count a failure another process saw (the web
//!                                page's wrong passwords: `web-login`)
//! ```
//!
//! Events are CUSTOM, Event-Subclass `fail2ban::ban` and `fail2ban::unban`, with the
//! headers of [`ban_event_headers`] / [`unban_event_headers`] after the common ones.
//! `network-ip` is the name sofia's register events use for the source.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use super::fail2ban::{
    BanError, BanEvent, BanInfo, Fail2ban, Fail2banStats, FailureKind, UnbanEvent, MAX_BAN_SECS,
};
use crate::civil::CivilTime;

pub const BAN_SUBCLASS: &str = "fail2ban::ban";
pub const UNBAN_SUBCLASS: &str = "fail2ban::unban";

pub const USAGE: &str = "-USAGE: fail2ban list|stats|ban <ip> [seconds]|unban <ip>|clear|check <ip>|failure <kind> <ip> [user]\n";

/// A parsed `fail2ban` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    List,
    Stats,
    /// `secs` None: ban-time; Some(0): permanent.
    Ban {
        ip: IpAddr,
        secs: Option<u64>,
    },
    Unban(IpAddr),
    Clear,
    Check(IpAddr),
    /// A failure seen by another process.
    Failure {
        kind: FailureKind,
        ip: IpAddr,
        user: String,
    },
}

/// What running a command gave: the reply, and the events to fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub reply: String,
    pub bans: Vec<BanEvent>,
    pub unbans: Vec<UnbanEvent>,
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    // `[2001:db8::1]` as people paste it from SIP.
    let t = s.trim_start_matches('[').trim_end_matches(']');
    t.parse::<IpAddr>()
        .map_err(|_| format!("-ERR {s:?} is not an IP address (e.g. 203.0.113.5 or 2001:db8::1)\n"))
}

/// Parses the arguments after `fail2ban`; Err is the reply.
pub fn parse(args: &str) -> Result<Command, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        [w] if w.eq_ignore_ascii_case("list") => Ok(Command::List),
        [w] if w.eq_ignore_ascii_case("stats") => Ok(Command::Stats),
        [w] if w.eq_ignore_ascii_case("clear") => Ok(Command::Clear),
        [w, ip] if w.eq_ignore_ascii_case("unban") => Ok(Command::Unban(parse_ip(ip)?)),
        [w, ip] if w.eq_ignore_ascii_case("check") => Ok(Command::Check(parse_ip(ip)?)),
        [w, kind, ip, user @ ..] if w.eq_ignore_ascii_case("failure") && user.len() <= 1 => {
            let kind = FailureKind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(kind))
                .ok_or_else(|| {
                    let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "-ERR unknown failure kind {kind:?}; allowed: {}\n",
                        names.join(", ")
                    )
                })?;
            Ok(Command::Failure {
                kind,
                ip: parse_ip(ip)?,
                user: user.first().map(|u| u.to_string()).unwrap_or_default(),
            })
        }
        [w, ip, rest @ ..] if w.eq_ignore_ascii_case("ban") && rest.len() <= 1 => {
            let ip = parse_ip(ip)?;
            let secs = match rest.first() {
                None => None,
                Some(s) => match s.parse::<u64>() {
                    Ok(n) if n <= MAX_BAN_SECS => Some(n),
                    _ => {
                        return Err(format!(
                            "-ERR {s:?} is not a number of seconds; allowed: 0-{MAX_BAN_SECS} \
                             (0 = permanent)\n"
                        ))
                    }
                },
            };
            Ok(Command::Ban { ip, secs })
        }
        _ => Err(USAGE.to_string()),
    }
}

/// Runs `fail2ban ARGS` at `now`; times in `list` are shown `utc_offset` seconds east
/// of UTC. The store ops it queued are the caller's to persist before replying.
pub fn execute(f: &mut Fail2ban, args: &str, now: Instant, utc_offset: i32) -> Outcome {
    let reply = |reply: String| Outcome {
        reply,
        bans: Vec::new(),
        unbans: Vec::new(),
    };
    let cmd = match parse(args) {
        Ok(c) => c,
        Err(e) => return reply(e),
    };
    match cmd {
        Command::List => reply(format_list(&f.list(now), utc_offset)),
        Command::Stats => reply(format_stats(&f.stats())),
        Command::Ban { ip, secs } => {
            let r = f.ban(ip, secs, now);
            let text = format_ban_reply(&r);
            Outcome {
                reply: text,
                bans: r.into_iter().collect(),
                unbans: Vec::new(),
            }
        }
        Command::Unban(ip) => {
            let ev = f.unban(ip, now);
            Outcome {
                reply: format_unban_reply(ip, ev.as_ref()),
                bans: Vec::new(),
                unbans: ev.into_iter().collect(),
            }
        }
        Command::Check(ip) => reply(if f.is_banned(ip, now) {
            "+OK banned\n".into()
        } else {
            "+OK not banned\n".into()
        }),
        Command::Failure { kind, ip, user: _ } => {
            let ban = f.record_failure(ip, kind, "reported over the API", now);
            Outcome {
                reply: if ban.is_some() || f.is_banned(ip, now) {
                    "+OK banned\n".into()
                } else {
                    "+OK counted\n".into()
                },
                bans: ban.into_iter().collect(),
                unbans: Vec::new(),
            }
        }
        Command::Clear => {
            let evs = f.clear(now);
            Outcome {
                reply: format_clear_reply(evs.len()),
                bans: Vec::new(),
                unbans: evs,
            }
        }
    }
}

fn local(unix: u64, utc_offset: i32) -> String {
    let t = CivilTime::from_unix(i64::try_from(unix).unwrap_or(i64::MAX), utc_offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.mday, t.hour, t.minute, t.second
    )
}

/// `fail2ban list`: `ip,reason,banned_at,expires,remaining,offences,dropped`, local
/// times; a permanent ban's expires and remaining are `never`.
pub fn format_list(bans: &[BanInfo], utc_offset: i32) -> String {
    let mut s = String::from("ip,reason,banned_at,expires,remaining,offences,dropped\n");
    for b in bans {
        let (expires, remaining) = match b.remaining_secs {
            None => ("never".to_string(), "never".to_string()),
            Some(r) => (local(b.expires_at_unix, utc_offset), r.to_string()),
        };
        let _ = writeln!(
            s,
            "{},{},{},{expires},{remaining},{},{}",
            b.ip,
            b.reason,
            local(b.banned_at_unix, utc_offset),
            b.offences,
            b.dropped
        );
    }
    let _ = write!(s, "\n{} total.\n", bans.len());
    s
}

/// `fail2ban stats`: one `name: value` per line.
pub fn format_stats(st: &Fail2banStats) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "{k}: {v}");
    };
    line("enabled", st.enabled.to_string());
    line("bans", st.active_bans.to_string());
    line("permanent-bans", st.permanent_bans.to_string());
    line("max-bans", st.max_bans.to_string());
    line("tracked", st.tracked.to_string());
    line("max-tracked", st.max_tracked.to_string());
    line("offenders", st.offenders.to_string());
    let total: u64 = st.failures.iter().sum();
    line("failures", total.to_string());
    for (k, n) in FailureKind::ALL.iter().zip(st.failures) {
        line(&format!("failures-{}", k.name()), n.to_string());
    }
    line("failures-whitelisted", st.whitelisted_failures.to_string());
    line(
        "failures-while-banned",
        st.failures_while_banned.to_string(),
    );
    line("auto-bans", st.auto_bans.to_string());
    line("api-bans", st.api_bans.to_string());
    line("repeat-bans", st.repeat_bans.to_string());
    line("expired", st.expired.to_string());
    line("api-unbans", st.api_unbans.to_string());
    line("cleared", st.cleared.to_string());
    line("dropped", st.dropped.to_string());
    line("bans-evicted", st.bans_evicted.to_string());
    line("bans-refused", st.bans_refused.to_string());
    line("tracked-evicted", st.tracked_evicted.to_string());
    line("offenders-evicted", st.offenders_evicted.to_string());
    s
}

pub fn format_ban_reply(r: &Result<BanEvent, BanError>) -> String {
    match r {
        Ok(b) => {
            let mut s = if b.secs == 0 {
                format!("+OK banned {} permanently", b.ip)
            } else {
                format!("+OK banned {} for {} seconds", b.ip, b.secs)
            };
            if let Some(v) = b.evicted {
                let _ = write!(
                    s,
                    " (max-bans reached: the ban of {v}, nearest its end, was dropped)"
                );
            }
            s.push('\n');
            s
        }
        Err(e) => format!("-ERR {e}\n"),
    }
}

pub fn format_unban_reply(ip: IpAddr, ev: Option<&UnbanEvent>) -> String {
    let ip = crate::cidr::canonical(ip);
    match ev {
        Some(_) => format!("+OK unbanned {ip}\n"),
        None => format!("-ERR {ip} is not banned\n"),
    }
}

pub fn format_clear_reply(n: usize) -> String {
    format!("+OK cleared {n} ban{}\n", if n == 1 { "" } else { "s" })
}

/// The headers of a `fail2ban::ban` event, in order:
/// - `network-ip`: the banned address;
/// - `reason`: the failure kind (`register-auth`, `invite-auth`, `unknown-user`, `acl`,
///   `esl-auth`, `web-login`, `scanner`) or `api`;
/// - `detail`: the last failure, as the guard was told it (absent for the API);
/// - `attempts`: failures within the window (0 for the API);
/// - `ban-seconds`: the ban's length, 0 = permanent;
/// - `banned-at` / `expires-at`: Unix seconds (`expires-at` 0 = permanent);
/// - `offences`: 1, then 2, ... for a repeat offender;
/// - `evicted-ip`: the ban dropped to make room (max-bans), when one was.
pub fn ban_event_headers(b: &BanEvent) -> Vec<(String, String)> {
    let mut h = vec![
        ("network-ip".to_string(), b.ip.to_string()),
        ("reason".to_string(), b.reason.clone()),
    ];
    if !b.detail.is_empty() {
        h.push(("detail".to_string(), b.detail.clone()));
    }
    h.extend([
        ("attempts".to_string(), b.attempts.to_string()),
        ("ban-seconds".to_string(), b.secs.to_string()),
        ("banned-at".to_string(), b.banned_at_unix.to_string()),
        ("expires-at".to_string(), b.expires_at_unix.to_string()),
        ("offences".to_string(), b.offences.to_string()),
    ]);
    if let Some(v) = b.evicted {
        h.push(("evicted-ip".to_string(), v.to_string()));
    }
    h
}

/// The headers of a `fail2ban::unban` event: `network-ip`; `reason` (`expired`, `api`,
/// `cleared`, `evicted`); `held-seconds` (how long the ban was held since it was made
/// or restored).
pub fn unban_event_headers(u: &UnbanEvent) -> Vec<(String, String)> {
    vec![
        ("network-ip".to_string(), u.ip.to_string()),
        ("reason".to_string(), u.reason.name().to_string()),
        ("held-seconds".to_string(), u.held_secs.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fail2ban::Fail2banConfig;
    use crate::config::Source;
    use crate::guard::fail2ban::UnbanReason;
    use std::time::Duration;

    const UNIX0: u64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

    fn guard(max_bans: u32) -> (Fail2ban, Instant) {
        let mut c = Fail2banConfig::defaults(Source {
            file: "x".into(),
            line: 0,
        });
        c.max_bans = max_bans;
        let t0 = Instant::now();
        (Fail2ban::new(&c, t0, UNIX0), t0)
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(parse("list"), Ok(Command::List));
        assert_eq!(parse(" STATS "), Ok(Command::Stats));
        assert_eq!(parse("clear"), Ok(Command::Clear));
        assert_eq!(
            parse("ban 203.0.113.5"),
            Ok(Command::Ban {
                ip: "203.0.113.5".parse().unwrap(),
                secs: None
            })
        );
        assert_eq!(
            parse("ban [2001:db8::1] 0"),
            Ok(Command::Ban {
                ip: "2001:db8::1".parse().unwrap(),
                secs: Some(0)
            })
        );
        assert_eq!(
            parse("unban 203.0.113.5"),
            Ok(Command::Unban("203.0.113.5".parse().unwrap()))
        );
        for bad in ["", "show", "ban", "unban", "list all", "ban 1.2.3.4 5 6"] {
            assert_eq!(parse(bad), Err(USAGE.to_string()), "{bad:?}");
        }
        assert_eq!(
            parse("ban example.com"),
            Err(
                "-ERR \"example.com\" is not an IP address (e.g. 203.0.113.5 or 2001:db8::1)\n"
                    .into()
            )
        );
        assert!(parse("ban 1.2.3.4 -5")
            .unwrap_err()
            .starts_with("-ERR \"-5\" is not a number of seconds"));
        assert!(parse("ban 1.2.3.4 99999999999").is_err());
    }

    #[test]
    fn another_process_reports_failures_and_checks_bans() {
        let (mut f, t0) = guard(10);
        assert!(parse("failure nonsense 1.2.3.4")
            .unwrap_err()
            .contains("allowed: register-auth"));
        assert_eq!(
            parse("failure web-login 203.0.113.7 admin"),
            Ok(Command::Failure {
                kind: FailureKind::WebLogin,
                ip: "203.0.113.7".parse().unwrap(),
                user: "admin".into()
            })
        );
        assert_eq!(
            execute(&mut f, "check 203.0.113.7", t0, 0).reply,
            "+OK not banned\n"
        );
        // max-attempts (5 by default): four are counted, the fifth bans.
        for _ in 0..4 {
            let o = execute(&mut f, "failure web-login 203.0.113.7", t0, 0);
            assert_eq!((o.reply.as_str(), o.bans.len()), ("+OK counted\n", 0));
        }
        let o = execute(&mut f, "failure web-login 203.0.113.7", t0, 0);
        assert_eq!(o.reply, "+OK banned\n");
        assert_eq!(o.bans[0].reason, "web-login");
        assert_eq!(
            execute(&mut f, "check 203.0.113.7", t0, 0).reply,
            "+OK banned\n"
        );
        // The box itself is whitelisted: counted, never banned.
        for _ in 0..6 {
            execute(&mut f, "failure web-login 127.0.0.1", t0, 0);
        }
        assert_eq!(
            execute(&mut f, "check 127.0.0.1", t0, 0).reply,
            "+OK not banned\n"
        );
    }

    #[test]
    fn ban_unban_clear_reply_like_freeswitch_and_give_their_events() {
        let (mut f, t0) = guard(1);
        let o = execute(&mut f, "ban 203.0.113.5 600", t0, 0);
        assert_eq!(o.reply, "+OK banned 203.0.113.5 for 600 seconds\n");
        assert_eq!(o.bans.len(), 1);
        let o = execute(&mut f, "ban 198.51.100.7", t0, 0);
        assert_eq!(
            o.reply,
            "+OK banned 198.51.100.7 for 3600 seconds (max-bans reached: the ban of \
             203.0.113.5, nearest its end, was dropped)\n"
        );
        let o = execute(&mut f, "ban 198.51.100.7 0", t0, 0);
        assert_eq!(o.reply, "+OK banned 198.51.100.7 permanently\n");
        let o = execute(&mut f, "ban 198.51.100.8 0", t0, 0);
        assert!(o
            .reply
            .starts_with("-ERR 1 bans are held (max-bans) and all are permanent"));
        assert!(o.bans.is_empty());
        let o = execute(&mut f, "ban 127.0.0.1", t0, 0);
        assert!(
            o.reply
                .starts_with("-ERR 127.0.0.1 is in the whitelist (127.0.0.1/32)"),
            "{}",
            o.reply
        );
        let o = execute(&mut f, "unban 203.0.113.5", t0, 0);
        assert_eq!(o.reply, "-ERR 203.0.113.5 is not banned\n");
        let o = execute(
            &mut f,
            "unban ::ffff:198.51.100.7",
            t0 + Duration::from_secs(9),
            0,
        );
        assert_eq!(o.reply, "+OK unbanned 198.51.100.7\n");
        assert_eq!(o.unbans[0].reason, UnbanReason::Api);
        execute(&mut f, "ban 198.51.100.9", t0, 0);
        let o = execute(&mut f, "clear", t0, 0);
        assert_eq!(o.reply, "+OK cleared 1 ban\n");
        assert_eq!(
            execute(&mut f, "clear", t0, 0).reply,
            "+OK cleared 0 bans\n"
        );
        assert_eq!(execute(&mut f, "nonsense", t0, 0).reply, USAGE);
    }

    #[test]
    fn list_is_a_show_style_table_in_local_time() {
        let (mut f, t0) = guard(10);
        f.ban("203.0.113.5".parse().unwrap(), Some(600), t0)
            .unwrap();
        f.ban(
            "2001:db8::1".parse().unwrap(),
            Some(0),
            t0 + Duration::from_secs(2),
        )
        .unwrap();
        assert!(f.is_banned("203.0.113.5".parse().unwrap(), t0));
        let o = execute(&mut f, "list", t0 + Duration::from_secs(100), 3600);
        assert_eq!(
            o.reply,
            "ip,reason,banned_at,expires,remaining,offences,dropped\n\
             203.0.113.5,api,2023-11-14 23:13:20,2023-11-14 23:23:20,500,1,1\n\
             2001:db8::1,api,2023-11-14 23:13:22,never,never,1,0\n\
             \n\
             2 total.\n"
        );
        let (f, t0) = guard(10);
        assert_eq!(
            format_list(&f.list(t0), 0),
            "ip,reason,banned_at,expires,remaining,offences,dropped\n\n0 total.\n"
        );
    }

    #[test]
    fn stats_show_every_counter_and_limit() {
        let (mut f, t0) = guard(10);
        f.record_failure("127.0.0.1".parse().unwrap(), FailureKind::EslAuth, "", t0);
        let s = execute(&mut f, "stats", t0, 0).reply;
        for want in [
            "enabled: true\n",
            "bans: 0\n",
            "max-bans: 10\n",
            "max-tracked: 10000\n",
            "failures: 1\n",
            "failures-esl-auth: 1\n",
            "failures-register-auth: 0\n",
            "failures-whitelisted: 1\n",
            "bans-evicted: 0\n",
            "bans-refused: 0\n",
            "tracked-evicted: 0\n",
            "dropped: 0\n",
        ] {
            assert!(s.contains(want), "{want:?} in\n{s}");
        }
    }

    #[test]
    fn event_headers() {
        let (mut f, t0) = guard(10);
        let mut b = None;
        for i in 0..5 {
            b = f.record_failure(
                "203.0.113.5".parse().unwrap(),
                FailureKind::RegisterAuth,
                "1001@example.com: wrong password",
                t0 + Duration::from_secs(i),
            );
        }
        let h = ban_event_headers(&b.unwrap());
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            h,
            [
                ("network-ip", "203.0.113.5"),
                ("reason", "register-auth"),
                ("detail", "1001@example.com: wrong password"),
                ("attempts", "5"),
                ("ban-seconds", "3600"),
                ("banned-at", "1700000004"),
                ("expires-at", "1700003604"),
                ("offences", "1"),
            ]
        );
        let u = f.unban("203.0.113.5".parse().unwrap(), t0 + Duration::from_secs(64));
        assert_eq!(
            unban_event_headers(&u.unwrap()),
            [
                ("network-ip".to_string(), "203.0.113.5".to_string()),
                ("reason".to_string(), "api".to_string()),
                ("held-seconds".to_string(), "60".to_string()),
            ]
        );
    }
}
