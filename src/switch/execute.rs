//! Running a channel's plan: the dialplan hunt, then the applications one by one
//! until one makes the channel wait (see [`Wait`]); and the answers an application
//! gives the caller (answer, pre_answer, ring_ready, respond, transfer).

use std::time::Duration;

use super::apps::App;
use super::cause::HangupCause;
use super::channel::{CallState, ChannelState};
use super::engine::{Clock, MediaOp, Switch, Timer};
use super::event::EventName;
use super::session::Wait;
use crate::civil::CivilTime;
use crate::dialplan;
use crate::sip::profiles::Profiles;

/// At most this many named zones are kept loaded.
const MAX_ZONES: usize = 32;

impl Switch {
    /// The offset a channel's time conditions use, as FreeSWITCH's dialplan reads it:
    /// `tod_tz_offset` (hours east of UTC), else `timezone` (a zone name), else the
    /// box's zone.
    pub(super) fn hunt_offset(&mut self, uuid: &str, clock: Clock) -> i32 {
        let unix = (clock.unix_us / 1_000_000) as i64;
        let Some(s) = self.sessions.get(uuid) else {
            return self.utc_offset(clock);
        };
        if let Some(hours) = s
            .channel
            .get("tod_tz_offset")
            .and_then(|v| v.trim().parse::<i32>().ok())
        {
            return hours.clamp(-14, 14) * 3600;
        }
        let Some(name) = s.channel.get("timezone").filter(|n| !n.is_empty()) else {
            return self.utc_offset(clock);
        };
        if !self.zones.contains_key(&name) {
            if self.zones.len() >= MAX_ZONES {
                self.zones.clear();
            }
            let zone = crate::tz::Zone::named(&name)
                .map_err(|e| tracing::warn!(%uuid, "{e}: the box's zone is used"))
                .ok();
            self.zones.insert(name.clone(), zone);
        }
        match self.zones.get(&name) {
            Some(Some(z)) => z.offset_at(unix),
            _ => self.utc_offset(clock),
        }
    }

    /// Hunts the channel's context for its destination, then runs the plan.
    pub(super) fn route(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        let offset = self.hunt_offset(uuid, clock);
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        let _ = s.channel.set_state(ChannelState::Routing);
        let context = s.channel.profile.context.clone();
        let civil = CivilTime::from_unix((clock.unix_us / 1_000_000) as i64, offset);
        let plan = {
            let hook = super::limit::api_hook(&self.limits, self.config.api.as_ref());
            self.config
                .dialplan
                .hunt_with_api(&context, &mut s.channel, &civil, Some(&hook))
        };
        match plan {
            Some(plan) if !plan.is_empty() => {
                s.plan = plan;
                s.pc = 0;
                s.wait = Wait::Ready;
                let _ = s.channel.set_state(ChannelState::Execute);
                self.run(uuid, sip, clock);
            }
            found => {
                let dest = s.channel.profile.destination_number.clone();
                tracing::info!(%uuid, %context, destination = %dest,
                    "{}", if found.is_none() { "no such dialplan context" } else { "no extension matches" });
                self.hangup(uuid, HangupCause::NoRouteDestination, sip, clock);
            }
        }
    }

    /// Runs applications until one makes the channel wait, or the plan ends (hangup).
    pub(super) fn run(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        for _ in 0..1000 {
            let Some(s) = self.sessions.get_mut(uuid) else {
                return;
            };
            if s.wait != Wait::Ready {
                return;
            }
            let Some(step) = s.plan.get(s.pc).cloned() else {
                s.application = None;
                let cause = HangupCause::NormalClearing;
                self.hangup(uuid, cause, sip, clock);
                return;
            };
            s.pc += 1;
            let data = {
                let hook = super::limit::api_hook(&self.limits, self.config.api.as_ref());
                dialplan::expand_with(&step.data, &s.channel, Some(&hook))
            };
            s.application = Some((step.application.clone(), data.clone()));
            match App::parse(&step.application, &data) {
                Ok(app) => self.execute(uuid, app, sip, clock),
                Err(e) => {
                    tracing::error!(%uuid, extension = %step.extension, "cannot run {}: {e}", step.application);
                }
            }
        }
        tracing::error!(%uuid, "1000 applications without waiting: the dialplan loops; hanging up");
        self.hangup(uuid, HangupCause::ExchangeRoutingError, sip, clock);
    }

    pub(super) fn execute(&mut self, uuid: &str, app: App, sip: &mut Profiles, clock: Clock) {
        match app {
            App::Answer => self.answer(uuid, sip, clock),
            App::PreAnswer => self.pre_answer(uuid, sip, clock),
            App::RingReady => self.ring_ready(uuid, sip, clock),
            App::Set { name, value } => {
                self.set_var(uuid, &name, &value);
            }
            App::Export { name, value, local } => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    if local {
                        s.channel.set(&name, &value);
                    }
                    let list = s.channel.get("export_vars").unwrap_or_default();
                    let list = if list.is_empty() {
                        name.clone()
                    } else {
                        format!("{list},{name}")
                    };
                    s.channel.set("export_vars", &list);
                    s.channel.set(&format!("__export_{name}"), &value);
                }
            }
            App::Unset(name) => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.channel.unset(&name);
                }
            }
            App::Hangup(cause) => self.hangup(uuid, cause, sip, clock),
            App::Respond { code, reason } => self.respond(uuid, code, reason, sip, clock),
            App::Transfer {
                extension, context, ..
            } => self.transfer(uuid, &extension, context.as_deref(), sip, clock),
            App::Bridge(dial) => self.bridge(uuid, dial, sip, clock),
            App::Limit(args) => self.limit(uuid, args, sip, clock),
            App::Sleep(ms) => {
                let at = clock.now + Duration::from_millis(ms);
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.wait = Wait::Until(at);
                }
                self.timers.insert((at, Timer::Wake(uuid.to_string())));
            }
            App::Log { level, message } => match level.as_str() {
                "ERR" | "CRIT" | "ALERT" => tracing::error!(%uuid, "{message}"),
                "WARNING" => tracing::warn!(%uuid, "{message}"),
                "NOTICE" | "INFO" | "CONSOLE" => tracing::info!(%uuid, "{message}"),
                _ => tracing::debug!(%uuid, "{message}"),
            },
            App::Echo => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.wait = Wait::Parked;
                    let id = s.media;
                    self.media(MediaOp::Echo { id });
                }
            }
            App::Park => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.wait = Wait::Parked;
                    let _ = s.channel.set_state(ChannelState::Park);
                    let id = s.media;
                    self.media(MediaOp::Idle { id });
                }
            }
            App::Playback(tone) => {
                let token = self.next_id();
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.wait = Wait::Playback(token);
                    let id = s.media;
                    self.media(MediaOp::Play { id, tone, token });
                }
            }
        }
    }

    pub fn set_var(&mut self, uuid: &str, name: &str, value: &str) -> bool {
        match self.sessions.get_mut(uuid) {
            Some(s) => {
                if value.is_empty() {
                    s.channel.unset(name);
                } else {
                    s.channel.set(name, value);
                }
                true
            }
            None => false,
        }
    }

    /// 200 OK to an inbound channel (no-op when already answered).
    pub(super) fn answer(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        if s.answered {
            return;
        }
        s.answered = true;
        s.answer_us = Some(clock.unix_us);
        s.channel.callstate = CallState::Active;
        if let (Some(leg), Some(sdp)) = (s.leg, s.local_sdp.clone()) {
            if !s.outbound {
                sip.answer(leg, &sdp, clock.now);
            }
        }
        self.emit(uuid, EventName::ChannelAnswer, clock);
    }

    /// 183 with our SDP: early media flows.
    pub(super) fn pre_answer(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        if s.answered || s.early_media || s.outbound {
            return;
        }
        if s.stream.is_none() {
            // A late-offer call: our SDP would be an offer, which an unreliable 183
            // cannot carry (RFC 3262). The caller hears it ring instead.
            return self.ring_ready(uuid, sip, clock);
        }
        s.early_media = true;
        s.channel.callstate = CallState::Early;
        if let (Some(leg), Some(sdp)) = (s.leg, s.local_sdp.clone()) {
            sip.progress(leg, 183, Some(&sdp), clock.now);
        }
        self.emit(uuid, EventName::ChannelProgressMedia, clock);
    }

    /// 180 Ringing.
    pub(super) fn ring_ready(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        if s.answered || s.early_media || s.outbound {
            return;
        }
        s.channel.callstate = CallState::Ringing;
        if let Some(leg) = s.leg {
            sip.progress(leg, 180, None, clock.now);
        }
        self.emit(uuid, EventName::ChannelProgress, clock);
    }

    pub(super) fn respond(
        &mut self,
        uuid: &str,
        code: u16,
        reason: Option<String>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        match code {
            180 => self.ring_ready(uuid, sip, clock),
            183 => self.pre_answer(uuid, sip, clock),
            200..=299 => self.answer(uuid, sip, clock),
            c if c >= 300 => {
                if let Some(s) = self.sessions.get_mut(uuid) {
                    if let (Some(leg), false) = (s.leg.take(), s.answered) {
                        self.by_leg.remove(&leg);
                        let phrase: Option<String> = reason
                            .as_deref()
                            .map(|r| r.chars().filter(|ch| !ch.is_control()).take(100).collect());
                        match phrase.as_deref().filter(|r| !r.trim().is_empty()) {
                            Some(phrase) => sip.refuse(leg, c, phrase, clock.now),
                            None => sip.hangup(leg, c, None, clock.now),
                        }
                        s.channel.set("sip_hangup_disposition", "send_refuse");
                        tracing::debug!(%uuid, code = c, reason = reason.as_deref().unwrap_or(""), "respond");
                    }
                }
                self.hangup(uuid, HangupCause::from_sip(c), sip, clock);
            }
            _ => {}
        }
    }

    /// `transfer EXT XML CONTEXT`: a new destination, hunted afresh.
    pub fn transfer(
        &mut self,
        uuid: &str,
        extension: &str,
        context: Option<&str>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        self.unbridge(uuid, sip, clock);
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        // Back to ROUTING: mod_limit lets go of the call's usage unless told not to.
        if !s.flag(crate::guard::limit::IGNORE_TRANSFER_VARIABLE) {
            self.limits.release_call(uuid);
        }
        s.channel.profile.destination_number = extension.to_string();
        if let Some(c) = context {
            s.channel.profile.context = c.to_string();
        }
        s.wait = Wait::Ready;
        let id = s.media;
        self.media(MediaOp::Idle { id });
        self.route(uuid, sip, clock);
    }
}
