//! The API commands on calls, with FreeSWITCH's names and output shapes: `show
//! channels|calls [count]`, `uuid_kill`, `uuid_bridge`, `uuid_transfer`,
//! `uuid_setvar`, `uuid_getvar`, `originate`, `hupall`, `cdr list [n]`.
//! Each runs on the profile driver's task, against its switch.

use std::fmt::Write as _;

use tokio::sync::oneshot;

use super::cdr_writer::CdrRequest;
use super::driver::{ProfileHandle, Reply};
use crate::esl::ApiRegistry;
use crate::switch::dial::Then;
use crate::switch::{DialString, HangupCause, Switch};

/// What else `reloadxml` reloads from the freshly read config (the blacklists).
pub type ReloadHook = std::sync::Arc<dyn Fn(&crate::config::Config) + Send + Sync>;

pub fn register_all(
    registry: &mut ApiRegistry,
    profiles: Vec<ProfileHandle>,
    cdrs: std::sync::mpsc::Sender<CdrRequest>,
    conf_dir: std::path::PathBuf,
    also: ReloadHook,
) {
    let Some(profile) = profiles.into_iter().next() else {
        return;
    };
    let p = profile.clone();
    registry.register_fn(
        "reloadxml",
        "reloadxml",
        "Reload the dialplan and the directory's variables",
        move |_| {
            let p = p.clone();
            let conf_dir = conf_dir.clone();
            let also = also.clone();
            Box::pin(async move { reloadxml(&p, &conf_dir, &also).await })
        },
    );
    let calls = |name: &'static str,
                 syntax: &'static str,
                 about: &'static str,
                 registry: &mut ApiRegistry,
                 job: fn(
        &str,
        &mut crate::sip::profiles::Profiles,
        &mut Switch,
        crate::switch::Clock,
    ) -> Reply| {
        let p = profile.clone();
        registry.register_fn(name, syntax, about, move |args: String| {
            let p = p.clone();
            Box::pin(async move {
                let out = p
                    .calls(Box::new(move |sip, switch, clock| {
                        job(&args, sip, switch, clock)
                    }))
                    .await?;
                match out.strip_prefix("-ERR ") {
                    Some(e) => Err(e.trim_end().to_string()),
                    None => Ok(out),
                }
            })
        });
    };
    calls(
        "uuid_kill",
        "uuid_kill <uuid> [cause]",
        "Hang up a channel",
        registry,
        |args, sip, sw, clock| {
            let mut w = args.split_whitespace();
            let Some(uuid) = w.next() else {
                return now("-ERR Usage: uuid_kill <uuid> [cause]");
            };
            let cause = match w.next().map(str::parse::<HangupCause>) {
                None => HangupCause::NormalClearing,
                Some(Ok(c)) => c,
                Some(Err(e)) => return now(&format!("-ERR {e}")),
            };
            if sw.session(uuid).is_none() {
                return now("-ERR No such channel!");
            }
            sw.hangup(uuid, cause, sip, clock);
            now("+OK\n")
        },
    );
    calls(
        "hupall",
        "hupall [cause]",
        "Hang up every channel",
        registry,
        |args, sip, sw, clock| {
            let cause = match args
                .split_whitespace()
                .next()
                .map(str::parse::<HangupCause>)
            {
                None => HangupCause::ManagerRequest,
                Some(Ok(c)) => c,
                Some(Err(e)) => return now(&format!("-ERR {e}")),
            };
            let n = sw.hangup_all(cause, sip, clock);
            now(&format!(
                "+OK hangup all channels with cause {} ({n})\n",
                cause.name()
            ))
        },
    );
    calls(
        "uuid_bridge",
        "uuid_bridge <uuid> <other_uuid>",
        "Bridge two channels",
        registry,
        |args, sip, sw, clock| {
            let w: Vec<&str> = args.split_whitespace().collect();
            let [a, b] = w.as_slice() else {
                return now("-ERR Usage: uuid_bridge <uuid> <other_uuid>");
            };
            match sw.uuid_bridge(a, b, sip, clock) {
                Ok(()) => now(&format!("+OK {b}\n")),
                Err(e) => now(&format!("-ERR {e}")),
            }
        },
    );
    calls(
        "uuid_transfer",
        TRANSFER_SYNTAX,
        "Transfer a channel",
        registry,
        |args, sip, sw, clock| {
            let Some(t) = TransferArgs::parse(args) else {
                return now(&format!("-USAGE: {TRANSFER_SYNTAX}\n"));
            };
            let Some(s) = sw.session(t.uuid) else {
                return now("-ERR No such channel!\n");
            };
            // -bleg and -both act on the bridged channel; without one, -bleg moves
            // the channel itself and -both only it, as mod_commands does.
            let peer = s.peer.clone();
            match (t.leg, peer) {
                (TransferLeg::Both, Some(_)) => {
                    sw.transfer_both(t.uuid, t.dest, t.context, sip, clock)
                }
                (TransferLeg::Bleg, Some(peer)) => {
                    sw.transfer(&peer, t.dest, t.context, sip, clock)
                }
                _ => sw.transfer(t.uuid, t.dest, t.context, sip, clock),
            }
            now("+OK\n")
        },
    );
    calls(
        "uuid_send_dtmf",
        "uuid_send_dtmf <uuid> <dtmf_data>",
        "Send DTMF digits to a channel's phone (DIGITS[@MS], groups joined by +)",
        registry,
        |args, sip, sw, clock| {
            let w: Vec<&str> = args.split_whitespace().collect();
            let [uuid, data] = w.as_slice() else {
                return now("-USAGE: <uuid> <dtmf_data>\n");
            };
            let digits = match crate::switch::dtmf::parse_dtmf_string(data) {
                Ok(d) => d,
                Err(e) => return now(&format!("-ERR {e}\n")),
            };
            match sw.send_dtmf(uuid, &digits, sip, clock) {
                Ok(()) => now(&format!("+OK {uuid} sent DTMF {data}.\n")),
                Err(e) => now(&format!("-ERR {e}\n")),
            }
        },
    );
    calls(
        "uuid_setvar",
        "uuid_setvar <uuid> <var> [value]",
        "Set a channel variable",
        registry,
        |args, _sip, sw, _clock| {
            let mut w = args.splitn(3, ' ');
            let (Some(uuid), Some(var)) = (w.next(), w.next()) else {
                return now("-ERR Usage: uuid_setvar <uuid> <var> [value]");
            };
            let value = w.next().unwrap_or("").trim();
            if sw.set_var(uuid, var, value) {
                now("+OK\n")
            } else {
                now("-ERR No such channel!")
            }
        },
    );
    calls(
        "uuid_getvar",
        "uuid_getvar <uuid> <var>",
        "Read a channel variable",
        registry,
        |args, _sip, sw, _clock| {
            let w: Vec<&str> = args.split_whitespace().collect();
            let [uuid, var] = w.as_slice() else {
                return now("-ERR Usage: uuid_getvar <uuid> <var>");
            };
            match sw.session(uuid) {
                None => now("-ERR No such channel!"),
                Some(s) => now(&s.channel.get(var).unwrap_or_else(|| "_undef_".into())),
            }
        },
    );
    calls(
        "originate",
        "originate <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>]",
        "Originate a call",
        registry,
        |args, sip, sw, clock| {
            let w: Vec<&str> = args.split_whitespace().collect();
            let Some((url, rest)) = w.split_first() else {
                return now("-ERR Usage: originate <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>]");
            };
            let dial = match DialString::parse(url) {
                Ok(d) => d,
                Err(e) => return now(&format!("-ERR {e}")),
            };
            let then = match rest.first() {
                Some(app) if app.starts_with('&') => {
                    let app = rest.join(" ");
                    let body = app.trim_start_matches('&');
                    let (name, data) = match body.split_once('(') {
                        Some((n, d)) => (n.to_string(), d.trim_end_matches(')').to_string()),
                        None => (body.to_string(), String::new()),
                    };
                    Then::App { name, data }
                }
                Some(ext) => Then::Extension {
                    extension: ext.to_string(),
                    context: rest.get(2).copied().unwrap_or("default").to_string(),
                },
                None => Then::App {
                    name: "park".into(),
                    data: String::new(),
                },
            };
            let (tx, rx) = oneshot::channel();
            sw.originate(dial, then, tx, sip, clock);
            Reply::Later(rx)
        },
    );
    let rotate = cdrs.clone();
    registry.register_fn(
        "cdr_csv",
        "cdr_csv rotate",
        "Rotate the CDR CSV files",
        move |args: String| {
            let cdrs = rotate.clone();
            Box::pin(async move {
                if args.trim() != "rotate" {
                    return Err("Usage: cdr_csv rotate".into());
                }
                let (reply, rx) = oneshot::channel();
                cdrs.send(CdrRequest::Rotate { reply })
                    .map_err(|_| "the CDR writer has stopped".to_string())?;
                rx.await
                    .map_err(|_| "the CDR writer did not answer".to_string())
            })
        },
    );
    registry.register_fn(
        "cdr",
        "cdr list [n]",
        "The newest call records",
        move |args: String| {
            let cdrs = cdrs.clone();
            Box::pin(async move {
                let w: Vec<&str> = args.split_whitespace().collect();
                let n = match w.as_slice() {
                    ["list"] => 20,
                    ["list", n] => n.parse().map_err(|_| format!("{n:?} is not a number"))?,
                    _ => return Err("Usage: cdr list [n]".into()),
                };
                let (reply, rx) = oneshot::channel();
                cdrs.send(CdrRequest::List { n, reply })
                    .map_err(|_| "the CDR writer has stopped".to_string())?;
                rx.await
                    .map_err(|_| "the CDR writer did not answer".to_string())
            })
        },
    );
}

/// Reads the config tree again and hands the switch the new dialplan and user
/// variables, and `also` the rest that reloads with them (the blacklists); calls in
/// progress keep the plan they have. Nothing changes when the new files do not load:
/// the error says which file and line.
async fn reloadxml(
    p: &ProfileHandle,
    conf_dir: &std::path::Path,
    also: &ReloadHook,
) -> Result<String, String> {
    let config =
        crate::config::load(conf_dir).map_err(|e| format!("reloadxml: nothing changed:\n{e}"))?;
    let (dialplan, _warnings) = crate::dialplan::load(conf_dir, &config.vars)
        .map_err(|e| format!("reloadxml: nothing changed:\n{e}"))?;
    let users: std::collections::HashMap<String, std::collections::BTreeMap<String, String>> =
        config
            .domains
            .first()
            .map(|d| {
                d.users
                    .iter()
                    .map(|u| (u.id.clone(), u.variables.clone()))
                    .collect()
            })
            .unwrap_or_default();
    let contexts = dialplan.contexts.len();
    also(&config);
    p.calls(Box::new(move |_, switch, clock| {
        switch.reload(dialplan, users, clock);
        Reply::Now(String::new())
    }))
    .await?;
    tracing::info!(
        contexts,
        "reloadxml: dialplan and directory variables reloaded"
    );
    Ok("+OK [Success]\n".into())
}

/// mod_commands' `TRANSFER_SYNTAX`.
const TRANSFER_SYNTAX: &str = "<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]";

/// Which channel `uuid_transfer` moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransferLeg {
    This,
    /// `-bleg`: the channel bridged to it.
    Bleg,
    /// `-both`: it and the channel bridged to it.
    Both,
}

/// `uuid_transfer`'s words, read as mod_commands reads them: two to five, a second
/// word starting with `-` is the leg option (an unknown one moves the channel
/// itself). The dialplan word is accepted and ignored: XML is the only one.
#[derive(Debug, PartialEq, Eq)]
struct TransferArgs<'a> {
    uuid: &'a str,
    leg: TransferLeg,
    dest: &'a str,
    context: Option<&'a str>,
}

impl<'a> TransferArgs<'a> {
    fn parse(args: &'a str) -> Option<TransferArgs<'a>> {
        let w: Vec<&str> = args.split_whitespace().collect();
        if !(2..=5).contains(&w.len()) {
            return None;
        }
        let (leg, rest) = match w[1].strip_prefix('-') {
            Some(opt) => {
                let leg = if opt.eq_ignore_ascii_case("bleg") {
                    TransferLeg::Bleg
                } else if opt.eq_ignore_ascii_case("both") {
                    TransferLeg::Both
                } else {
                    TransferLeg::This
                };
                (leg, &w[2..])
            }
            None => (TransferLeg::This, &w[1..]),
        };
        let dest = *rest.first()?;
        Some(TransferArgs {
            uuid: w[0],
            leg,
            dest,
            context: rest.get(2).copied(),
        })
    }
}

fn now(s: &str) -> Reply {
    Reply::Now(s.to_string())
}

/// `show channels` / `show calls`, FreeSWITCH's CSV columns.
pub fn show(sw: &Switch, args: &str) -> String {
    let count_only = args.split_whitespace().any(|w| w == "count");
    let calls = args.split_whitespace().next() == Some("calls");
    let mut sessions: Vec<_> = sw.sessions().collect();
    sessions.sort_by_key(|s| (s.created_epoch, s.channel.uuid.clone()));
    let mut out = String::new();
    if calls {
        // One row per call: an A-leg with its bridged B-leg, or a lone channel.
        let mut shown = std::collections::HashSet::new();
        let rows: Vec<_> = sessions
            .iter()
            .filter(|s| {
                // A bridged pair is one call, under whichever leg came first; a leg
                // still being dialled belongs to its caller's row.
                let taken = s.peer.as_ref().is_some_and(|p| shown.contains(p.as_str()));
                let dialled = s.outbound && s.peer.is_none() && s.dialled_by.is_some();
                if !taken && !dialled {
                    shown.insert(s.channel.uuid.as_str());
                }
                !taken && !dialled
            })
            .collect();
        if count_only {
            return format!("\n{} total.\n", rows.len());
        }
        out.push_str("uuid,direction,created_epoch,name,state,cid_name,cid_num,dest,application,application_data,callstate,b_uuid,b_name,b_callstate\n");
        for s in &rows {
            let b = s.peer.as_deref().and_then(|p| sw.session(p));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                s.channel.uuid,
                if s.outbound { "outbound" } else { "inbound" },
                s.created_epoch,
                s.channel.name,
                s.channel.state().name(),
                csv(&s.channel.profile.caller_id_name),
                csv(&s.channel.profile.caller_id_number),
                csv(&s.channel.profile.destination_number),
                s.application.as_ref().map_or("", |a| a.0.as_str()),
                csv(s.application.as_ref().map_or("", |a| a.1.as_str())),
                s.channel.callstate.name(),
                b.map_or("", |b| b.channel.uuid.as_str()),
                b.map_or("", |b| b.channel.name.as_str()),
                b.map_or("", |b| b.channel.callstate.name()),
            );
        }
        let _ = write!(out, "\n{} total.\n", rows.len());
        return out;
    }
    if count_only {
        return format!("\n{} total.\n", sessions.len());
    }
    out.push_str("uuid,direction,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,application_data,read_codec,write_codec,callstate,callee_num\n");
    for s in &sessions {
        let c = &s.channel;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},",
            c.uuid,
            if s.outbound { "outbound" } else { "inbound" },
            s.created_epoch,
            c.name,
            c.state().name(),
            csv(&c.profile.caller_id_name),
            csv(&c.profile.caller_id_number),
            c.profile.network_addr,
            csv(&c.profile.destination_number),
            s.application.as_ref().map_or("", |a| a.0.as_str()),
            csv(s.application.as_ref().map_or("", |a| a.1.as_str())),
            c.get("read_codec").unwrap_or_default(),
            c.get("write_codec").unwrap_or_default(),
            c.callstate.name(),
        );
    }
    let _ = write!(out, "\n{} total.\n", sessions.len());
    out
}

fn csv(s: &str) -> String {
    s.replace(',', "%2C").replace(['\r', '\n'], "")
}

#[cfg(test)]
mod tests {
    use super::{TransferArgs, TransferLeg};

    #[test]
    fn uuid_transfer_words_are_read_as_mod_commands_reads_them() {
        let t = |s| TransferArgs::parse(s);
        let args = |leg, dest, context| {
            Some(TransferArgs {
                uuid: "U",
                leg,
                dest,
                context,
            })
        };
        assert_eq!(t("U 9197"), args(TransferLeg::This, "9197", None));
        assert_eq!(t("U 9197 XML"), args(TransferLeg::This, "9197", None));
        assert_eq!(
            t("U 9197 XML public"),
            args(TransferLeg::This, "9197", Some("public"))
        );
        assert_eq!(t("U -bleg 9197"), args(TransferLeg::Bleg, "9197", None));
        assert_eq!(
            t("U -BOTH 9197 XML default"),
            args(TransferLeg::Both, "9197", Some("default"))
        );
        assert_eq!(t("U -other 9197"), args(TransferLeg::This, "9197", None));
        for bad in ["", "U", "U -both", "U 1 2 3 4 5"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }
}
