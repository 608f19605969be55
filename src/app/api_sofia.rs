//! `sofia ...`: the SIP profiles and their gateways, in mod_sofia's words and layout
//! (`sofia status`, `sofia status profile NAME [reg]`, `sofia status gateway [NAME]`,
//! `sofia profile NAME register|unregister|killgw GW`).

use super::api::{split_host_port, ApiContext};
use super::driver::ProfileHandle;
use crate::sip::core::SipCore;
use crate::sip::gateway_status::{
    format_gateway_row, format_gateway_status, format_gateway_summary, format_status_header,
    GatewayReport, STATUS_LINE,
};
use std::fmt::Write as _;
use std::time::Instant;

pub(super) async fn sofia(ctx: &ApiContext, args: &str) -> Result<String, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        ["status"] => {
            let mut out = format_status_header();
            for p in &ctx.profiles {
                let rows = p
                    .query(Box::new(|core: &SipCore| {
                        let cfg = core.config();
                        let mut rows = format!(
                            "{:>25}\t{:>7}\t  {:<40}\tRUNNING ({})\n",
                            cfg.profile,
                            "profile",
                            format!("sip:mod_sofia@{}", cfg.contact_host),
                            core.registrar().location.len()
                        );
                        for g in core.gateway_reports(Instant::now(), unix_s()) {
                            rows.push_str(&format_gateway_row(&g));
                        }
                        rows
                    }))
                    .await?;
                out.push_str(&rows);
            }
            let _ = writeln!(
                out,
                "{STATUS_LINE}\n{} profile{} 0 aliases",
                ctx.profiles.len(),
                if ctx.profiles.len() == 1 { "" } else { "s" }
            );
            Ok(out)
        }
        ["status", "gateway"] => Ok(format_gateway_summary(&gateways(ctx).await?)),
        ["status", "gateway", name] => {
            let reports = gateways(ctx).await?;
            match reports.iter().find(|g| g.name == *name) {
                Some(g) => Ok(format_gateway_status(g)),
                None => Ok("Invalid Gateway!\n".into()),
            }
        }
        ["profile", name, verb @ ("register" | "unregister" | "killgw"), gw] => {
            let p = find_profile(ctx, name)?;
            let (verb, gw) = (verb.to_string(), gw.to_string());
            p.command(Box::new(move |core, now| {
                gateway_command(core, &verb, &gw, now)
            }))
            .await
        }
        ["profile", name, "rescan"] => rescan(ctx, name).await,
        ["status", "profile", name] => {
            let p = find_profile(ctx, name)?;
            p.query(Box::new(profile_summary)).await
        }
        ["status", "profile", name, "reg"] | ["status", "profile", name, "reg", _] => {
            let p = find_profile(ctx, name)?;
            let filter = words.get(4).map(|s| s.to_string());
            let host = ctx.hostname.clone();
            p.query(Box::new(move |core: &SipCore| {
                profile_registrations(core, filter.as_deref(), &host)
            }))
            .await
        }
        _ => Err(
            "Usage: sofia status [profile <name> [reg [<user>]] | gateway [<name>]] | \
                  sofia profile <name> [register|unregister|killgw] <gateway|all> | \
                  sofia profile <name> rescan"
                .into(),
        ),
    }
}

fn find_profile<'a>(ctx: &'a ApiContext, name: &str) -> Result<&'a ProfileHandle, String> {
    ctx.profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("Invalid Profile [{name}]"))
}

fn profile_summary(core: &SipCore) -> String {
    let cfg = core.config();
    let s = core.stats();
    let bar = "=".repeat(97);
    format!(
        "{bar}\nName          \t{}\nDomain Name   \t{}\nAuth Realm    \t{}\nURL           \
         \tsip:mod_sofia@{}\nBIND-URL      \tsip:mod_sofia@{}\nUSER-AGENT    \t{}\n\
         REGISTRATIONS \t{}\nUSERS         \t{}\nPARSE-ERRORS  \t{}\nAUTH-FAILURES \t{}\n{bar}\n",
        cfg.profile,
        core.directory().domain,
        core.directory().realm,
        cfg.contact_host,
        cfg.contact_host,
        cfg.user_agent,
        s.registrations,
        core.directory().len(),
        s.parse_errors,
        s.auth_failures,
    )
}

fn profile_registrations(core: &SipCore, user: Option<&str>, hostname: &str) -> String {
    let now = super::driver::unix_ms();
    let bar = "=".repeat(97);
    let mut out = format!("\nRegistrations:\n{bar}\n");
    let mut n = 0;
    for b in core.registrar().location.all() {
        let (reg_user, realm) = b.aor.split_once('@').unwrap_or((&b.aor, ""));
        if user.is_some_and(|u| u != reg_user) {
            continue;
        }
        n += 1;
        let (ip, port) = split_host_port(&b.source);
        let left = b.expires_at_unix_ms.saturating_sub(now) / 1000;
        let _ = write!(
            out,
            "Call-ID:    \t{}\nUser:       \t{}\nContact:    \t\"{}\" <{}>\nAgent:      \t{}\n\
             Status:     \tRegistered({})(unknown) EXP({}) EXPSECS({})\nPing-Status:\tReachable\n\
             Ping-Time:\t0.00\nHost:       \t{}\nIP:         \t{}\nPort:       \t{}\n\
             Auth-User:  \t{}\nAuth-Realm: \t{}\nMWI-Account:\t{}\n\n",
            b.call_id,
            b.aor,
            reg_user,
            b.contact_uri,
            b.user_agent.as_deref().unwrap_or(""),
            b.transport.to_uppercase(),
            b.expires_at_unix_ms / 1000,
            left,
            hostname,
            ip,
            port,
            reg_user,
            realm,
            b.aor
        );
    }
    let _ = write!(out, "Total items returned: {n}\n{bar}\n");
    out
}

fn unix_s() -> u64 {
    super::driver::unix_ms() / 1000
}

/// Every profile's gateways, in profile order.
async fn gateways(ctx: &ApiContext) -> Result<Vec<GatewayReport>, String> {
    let mut all = Vec::new();
    for p in &ctx.profiles {
        all.extend(
            p.inspect(|core| core.gateway_reports(Instant::now(), unix_s()))
                .await?,
        );
    }
    Ok(all)
}

/// `sofia profile P register|unregister|killgw GW`, answered as mod_sofia does.
fn gateway_command(core: &mut SipCore, verb: &str, gw: &str, now: Instant) -> String {
    match verb {
        "register" => {
            let done = core.register_gateways(gw, now);
            if done.is_empty() {
                format!("-ERR Invalid gateway! [{gw}]\n")
            } else {
                "+OK\n".into()
            }
        }
        "unregister" => {
            let done = core.unregister_gateways(gw, now);
            if done.is_empty() {
                format!("-ERR Invalid gateway! [{gw}]\n")
            } else {
                "+OK\n".into()
            }
        }
        _ => {
            if core.kill_gateway(gw, now) {
                "+OK gateway marked for deletion.\n".to_string()
            } else {
                format!("-ERR no such gateway [{gw}]\n")
            }
        }
    }
}

/// `sofia profile P rescan`: the profile's gateways read again from the config; new
/// ones start, removed ones are unregistered and dropped, the others keep running
/// (as mod_sofia does; a changed gateway takes killgw then rescan).
async fn rescan(ctx: &ApiContext, name: &str) -> Result<String, String> {
    let p = find_profile(ctx, name)?;
    let config = crate::config::load(&ctx.conf_dir)
        .map_err(|e| format!("-ERR the config does not load, nothing changed:\n{e}"))?;
    let profile = config
        .profiles
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("-ERR profile {name} is no longer in the config"))?
        .clone();
    // Gateways still in the config stay, even one whose address does not resolve now.
    let wanted: Vec<String> = profile.gateways.iter().map(|g| g.name.clone()).collect();
    let core = p.inspect(|core| core.config().clone()).await?;
    // Resolving may wait on DNS: not on the driver's task.
    let (setups, problems) = tokio::task::spawn_blocking(move || {
        let host_for = |ip| core.host_for(ip).to_string();
        let mut setups = Vec::new();
        let mut problems = String::new();
        for gw in &profile.gateways {
            match super::gateways::setup(gw, &profile, &host_for) {
                Ok(s) => setups.push(s),
                Err(e) => {
                    let _ = writeln!(problems, "-ERR gateway {} ({}): {e}", gw.name, gw.source);
                }
            }
        }
        (setups, problems)
    })
    .await
    .map_err(|e| format!("-ERR rescan: {e}"))?;

    let summary = p
        .command(Box::new(move |core, now| {
            let running: Vec<String> = core
                .gateways()
                .iter()
                .map(|g| g.name().to_string())
                .collect();
            let mut removed = 0;
            for gone in running.iter().filter(|r| !wanted.contains(r)) {
                removed += usize::from(core.kill_gateway(gone, now));
            }
            let mut added = 0;
            for s in setups {
                if !running.contains(&s.registration.name) {
                    core.add_gateway(s, now);
                    added += 1;
                }
            }
            format!("+OK scan complete: {added} gateways added, {removed} removed\n")
        }))
        .await?;
    Ok(format!("{problems}{summary}"))
}
