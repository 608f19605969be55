//! The API commands of the foundation, with FreeSWITCH's names and output shapes:
//! `status`, `sofia status`, `sofia status profile NAME [reg]`, `show registrations`,
//! and loopstart's `user show ID`.

use super::driver::ProfileHandle;
use crate::esl::{ApiFuture, ApiRegistry};
use crate::sip::core::SipCore;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// Shared facts the commands need besides the profiles.
pub struct ApiContext {
    pub started: Instant,
    pub hostname: String,
    pub max_sessions: u32,
    pub profiles: Vec<ProfileHandle>,
    /// user id → password, for `user show` (configured or first-boot generated).
    pub passwords: std::collections::BTreeMap<String, String>,
    pub domain: String,
    /// The media engine, for its limits in `status`.
    pub media: Option<crate::media::engine::MediaEngine>,
    /// Where the config is read again (`sofia profile P rescan`).
    pub conf_dir: std::path::PathBuf,
    /// The number blacklists, for their counters in `status`.
    pub blacklists: Option<Arc<super::blacklist::SharedBlacklists>>,
}

pub fn register_all(registry: &mut ApiRegistry, ctx: Arc<ApiContext>) {
    let add = |registry: &mut ApiRegistry,
               (name, syntax, description): (&str, &str, &str),
               run: fn(Arc<ApiContext>, String) -> ApiFuture| {
        let ctx = ctx.clone();
        registry.register_fn(name, syntax, description, move |args| {
            run(ctx.clone(), args)
        });
    };
    add(
        registry,
        ("status", "status", "Show the gateway's status"),
        |c, _| Box::pin(async move { status(&c).await }),
    );
    add(
        registry,
        (
            "sofia",
            "sofia status [profile <name> [reg]]",
            "SIP profile status",
        ),
        |c, a| Box::pin(async move { super::api_sofia::sofia(&c, &a).await }),
    );
    add(
        registry,
        (
            "show",
            "show registrations|channels|calls [count]",
            "Show lists",
        ),
        |c, a| Box::pin(async move { show(&c, &a).await }),
    );
    add(
        registry,
        (
            "user",
            "user show <id>",
            "Show a user's password (first-boot generated or configured)",
        ),
        |c, a| Box::pin(async move { user(&c, &a) }),
    );
}

async fn status(ctx: &ApiContext) -> Result<String, String> {
    let up = ctx.started.elapsed();
    let secs = up.as_secs();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "UP {} years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds",
        secs / (365 * 86_400),
        secs / 86_400 % 365,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        up.subsec_millis(),
        up.subsec_micros() % 1000
    );
    let _ = writeln!(
        out,
        "loopstart (Version {}) is ready",
        env!("CARGO_PKG_VERSION")
    );
    let counts = match ctx.profiles.first() {
        Some(p) => {
            p.calls(Box::new(|_, switch, _| {
                let (total, now, peak) = switch.session_counts();
                super::driver::Reply::Now(format!("{total} {now} {peak}"))
            }))
            .await?
        }
        None => "0 0 0".into(),
    };
    let mut n = counts.split(' ').map(|v| v.parse::<u64>().unwrap_or(0));
    let (total, now, peak) = (
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
    );
    let _ = writeln!(out, "{total} session(s) since startup");
    let _ = writeln!(out, "{now} session(s) - peak {peak}");
    let _ = writeln!(out, "{} session(s) max", ctx.max_sessions);
    for p in &ctx.profiles {
        let line = p
            .query(Box::new(|core: &SipCore| {
                let s = core.stats();
                format!(
                    "registrations {}; transactions {}; received {}; sent {}; \
                     parse errors {}; bad requests {}; auth failures {}; scanners dropped {}; \
                     retransmissions absorbed {}; overload 503s {}; transactions evicted {}",
                    s.registrations,
                    s.transactions,
                    s.received,
                    s.sent,
                    s.parse_errors,
                    s.bad_requests,
                    s.auth_failures,
                    s.screened,
                    s.tx_absorbed,
                    s.overloaded + s.tx_overloaded,
                    s.tx_evicted
                )
            }))
            .await?;
        let _ = writeln!(out, "profile {}: {}", p.name, line);
    }
    if let Some(p) = ctx.profiles.first() {
        let line = p
            .calls(Box::new(|_, switch, _| {
                let l = switch.limits();
                let s = l.stats();
                super::driver::Reply::Now(format!(
                    "limit: {} keys; {} calls allowed, {} refused ({} with the table full)",
                    l.len(),
                    s.allowed,
                    s.refused,
                    s.refused_full
                ))
            }))
            .await?;
        let _ = writeln!(out, "{line}");
    }
    if let Some(b) = &ctx.blacklists {
        let _ = writeln!(out, "{}", b.status_line());
    }
    if let Some(m) = &ctx.media {
        let m = m.status();
        let _ = writeln!(
            out,
            "media: {} of {} sessions open; {} RTP port pairs; {} opens refused",
            m.sessions, m.max_sessions, m.port_pairs, m.refused_opens
        );
    }
    Ok(out)
}

async fn show(ctx: &ApiContext, args: &str) -> Result<String, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        ["registrations"] => {
            let mut out = String::from(
                "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata\n",
            );
            let mut total = 0;
            for p in &ctx.profiles {
                let host = ctx.hostname.clone();
                let (rows, n) = {
                    let s = p
                        .query(Box::new(move |core: &SipCore| {
                            registrations_csv(core, &host)
                        }))
                        .await?;
                    let n = s.lines().count();
                    (s, n)
                };
                out.push_str(&rows);
                total += n;
            }
            let _ = write!(out, "\n{total} total.\n");
            Ok(out)
        }
        ["registrations", "count"] => {
            let mut total = 0;
            for p in &ctx.profiles {
                let n = p
                    .query(Box::new(|core: &SipCore| {
                        core.registrar().location.len().to_string()
                    }))
                    .await?;
                total += n.parse::<usize>().unwrap_or(0);
            }
            Ok(format!("\n{total} total.\n"))
        }
        ["channels"] | ["calls"] | ["channels", "count"] | ["calls", "count"] => {
            let Some(p) = ctx.profiles.first() else {
                return Ok("\n0 total.\n".into());
            };
            let what = args.to_string();
            p.calls(Box::new(move |_, switch, _| {
                super::driver::Reply::Now(super::api_calls::show(switch, &what))
            }))
            .await
        }
        _ => Err("Usage: show registrations|channels|calls [count]".into()),
    }
}

fn registrations_csv(core: &SipCore, hostname: &str) -> String {
    let mut out = String::new();
    let profile = &core.config().profile;
    for b in core.registrar().location.all() {
        let (reg_user, realm) = b.aor.split_once('@').unwrap_or((&b.aor, ""));
        let (ip, port) = split_host_port(&b.source);
        let _ = writeln!(
            out,
            "{},{},{},sofia/{}/{},{},{},{},{},{},",
            reg_user,
            realm,
            b.call_id.replace(',', ""),
            profile,
            b.contact_uri.replace(',', "%2C"),
            b.expires_at_unix_ms / 1000,
            ip,
            port,
            b.transport,
            hostname
        );
    }
    out
}

fn user(ctx: &ApiContext, args: &str) -> Result<String, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        ["show", id] => {
            let id = id.split('@').next().unwrap_or(id);
            match ctx.passwords.get(id) {
                Some(pw) => Ok(format!("user: {id}@{}\npassword: {pw}\n", ctx.domain)),
                None => Err(format!("no user {id} in domain {}", ctx.domain)),
            }
        }
        _ => Err("Usage: user show <id>".into()),
    }
}

pub(super) fn split_host_port(s: &str) -> (String, String) {
    match s.parse::<std::net::SocketAddr>() {
        Ok(a) => (a.ip().to_string(), a.port().to_string()),
        Err(_) => (s.to_string(), String::new()),
    }
}
