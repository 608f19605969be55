//! mod_limit where it meets channels: the `limit` application's decision applied to a
//! call (variables and CUSTOM `limit::usage` on a pass; transfer or hangup over the
//! limit), and the functions `${name(args)}` may call during a hunt or an
//! application's expansion. The counting itself is `guard::limit`, pure; the switch
//! owns its table because the switch alone sees calls start, transfer and end, so the
//! counts need no lock and cannot drift from the calls.

use super::cause::HangupCause;
use super::engine::{Clock, Switch, SwitchApi};
use super::event::EventName;
use crate::guard::limit::{Decision, HashLimits, LimitArgs, OnExceed, UsageEvent};
use crate::sip::profiles::Profiles;

impl Switch {
    /// Runs `limit` for channel `uuid` at the wall clock's second.
    pub(super) fn limit(&mut self, uuid: &str, args: LimitArgs, sip: &mut Profiles, clock: Clock) {
        let now = clock.unix_us / 1_000_000;
        match self.limits.incr(uuid, &args, now) {
            Decision::Allowed { variables, event } => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    for (n, v) in &variables {
                        s.channel.set(n, v);
                    }
                }
                if let Some(ev) = event {
                    self.usage_event(uuid, &ev, clock);
                }
            }
            Decision::Exceeded { on_exceed, why } => {
                let (user, number) = self
                    .sessions
                    .get(uuid)
                    .map(|s| {
                        (
                            s.channel.profile.caller_id_number.clone(),
                            s.channel.profile.destination_number.clone(),
                        )
                    })
                    .unwrap_or_default();
                tracing::warn!(%uuid, caller = %user, destination = %number,
                    realm = %args.realm, resource = %args.resource, max = args.max,
                    interval = args.interval, why = ?why,
                    "limit {} {} exceeded: {}", args.realm, args.resource, describe(&on_exceed));
                match on_exceed {
                    OnExceed::Hangup { cause } => {
                        self.hangup(uuid, str2cause(&cause), sip, clock);
                    }
                    OnExceed::Transfer {
                        extension, context, ..
                    } => self.transfer(uuid, &extension, context.as_deref(), sip, clock),
                }
            }
        }
    }

    /// CUSTOM `limit::usage` with the channel's data, as `switch_limit_fire_event`.
    fn usage_event(&mut self, uuid: &str, ev: &UsageEvent, clock: Clock) {
        if !self.events_wanted() {
            return;
        }
        let Some(s) = self.sessions.get(uuid) else {
            return;
        };
        let mut e = self.channel_event(&s.channel, EventName::Custom, clock);
        let at = 1.min(e.headers.len());
        let headers = ev.headers().into_iter().map(|(n, v)| (n.to_string(), v));
        e.headers.splice(at..at, headers);
        self.push_event(e);
    }

    /// mod_hash's table, for the `limit_*` and `hash_dump` API commands.
    pub fn limits(&self) -> &HashLimits {
        &self.limits
    }

    pub fn limits_mut(&mut self) -> &mut HashLimits {
        &mut self.limits
    }
}

/// The function hook for a hunt or an expansion: the switch's own functions first
/// (`limit_usage`, `limit_hash_usage`: they read its table), then the app layer's.
pub(super) fn api_hook<'a>(
    limits: &'a HashLimits,
    api: Option<&'a SwitchApi>,
) -> impl Fn(&str, &str) -> Option<String> + 'a {
    move |name: &str, args: &str| match name {
        "limit_usage" => Some(limits.api_limit_usage(args)),
        "limit_hash_usage" => Some(limits.api_limit_hash_usage(args)),
        _ => api.and_then(|f| f(name, args)),
    }
}

/// `switch_channel_str2cause`: a Q.850 number or a name; anything else
/// NORMAL_CLEARING.
fn str2cause(s: &str) -> HangupCause {
    s.parse().unwrap_or(HangupCause::NormalClearing)
}

fn describe(on: &OnExceed) -> String {
    match on {
        OnExceed::Hangup { cause } => format!("hangup {}", str2cause(cause).name()),
        OnExceed::Transfer {
            extension, context, ..
        } => match context {
            Some(c) => format!("transfer to {extension} in {c}"),
            None => format!("transfer to {extension}"),
        },
    }
}
