//! The switch, sans-IO: call events from the SIP core, media events and `now` in;
//! commands to the SIP core (called directly: it is sans-IO too), media operations,
//! channel events and finished channels (for CDRs) out, and the next wake-up.
//!
//! Each inbound call becomes a channel that hunts the dialplan and runs the planned
//! applications one by one (`run`); an application either completes at once (set,
//! answer, log) or leaves the channel waiting ([`Wait`]) for a timer, the end of a
//! playback, a bridge's outcome or a hangup. Bridges and originates live in `dial.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::apps::App;
use super::cause::HangupCause;
use super::cdr::CallTimes;
use super::channel::{CallState, CallerProfile, Channel, ChannelState};
use super::dial::Dial;
use super::event::{Event, EventName, Stamp};
use super::session::{DialId, MediaId, Session, Wait};
use crate::civil::CivilTime;
use crate::dialplan::{self, Dialplan, Planned};
use crate::media::tone::ToneSpec;
use crate::sip::core::SipCore;
use crate::sip::dialog::{CallEvent, IncomingCall, LegEnd, LegId};
use crate::sip::sdp::{self, Negotiated, Offerable, Sdp};
use crate::sip::transaction::TransportKind;

/// What the switch needs to know, from the config.
pub struct SwitchConfig {
    pub profile: String,
    pub domain: String,
    /// Each directory user's variables (user_context, effective_caller_id_*, ...).
    pub users: HashMap<String, BTreeMap<String, String>>,
    pub dialplan: Dialplan,
    pub codecs: Offerable,
    /// The profile's `context` for callers the directory does not vouch for.
    pub context: String,
    /// Seconds east of UTC for time conditions and CDR stamps.
    pub utc_offset: i32,
    pub max_sessions: usize,
    pub core_uuid: String,
    pub hostname: String,
}

/// Both clocks: monotonic for timers, wall for stamps.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Instant,
    pub unix_us: u64,
}

/// Ports for a channel's RTP (the media engine binds them; tests fake it).
pub trait MediaPorts {
    fn open(&mut self, id: MediaId) -> io::Result<SocketAddr>;
}

/// What the media engine should do.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaOp {
    Remote {
        id: MediaId,
        stream: Negotiated,
    },
    Play {
        id: MediaId,
        tone: ToneSpec,
        token: u64,
    },
    Echo {
        id: MediaId,
    },
    Bridge {
        a: MediaId,
        b: MediaId,
    },
    Idle {
        id: MediaId,
    },
    /// The channel is gone: free its ports (the stats go to its CDR).
    Close {
        id: MediaId,
    },
}

/// What the media engine reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaNotice {
    PlaybackDone { id: MediaId, token: u64 },
    RtpTimeout { id: MediaId },
}

/// A channel that has hung up: its record is due.
#[derive(Debug)]
pub struct Finished {
    pub channel: Channel,
    pub times: CallTimes,
    pub media: MediaId,
    /// A B-leg (dialled by a bridge or originate).
    pub outbound: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// `sleep` of a channel (valid while it still waits until that instant).
    Wake(String),
    /// A dial's call_timeout.
    DialTimeout(DialId),
}

pub struct Switch {
    pub(super) config: SwitchConfig,
    pub(super) sessions: HashMap<String, Session>,
    pub(super) by_leg: HashMap<LegId, String>,
    by_media: HashMap<MediaId, String>,
    pub(super) dials: HashMap<DialId, Dial>,
    pub(super) next_id: u64,
    pub(super) timers: BTreeSet<(Instant, Timer)>,
    media_ops: VecDeque<MediaOp>,
    events: VecDeque<Event>,
    finished: VecDeque<Finished>,
    event_seq: std::cell::Cell<u64>,
    ports: Box<dyn MediaPorts + Send>,
    created_total: u64,
    peak: usize,
}

impl Switch {
    pub fn new(config: SwitchConfig, ports: Box<dyn MediaPorts + Send>) -> Switch {
        Switch {
            config,
            sessions: HashMap::new(),
            by_leg: HashMap::new(),
            by_media: HashMap::new(),
            dials: HashMap::new(),
            next_id: 0,
            timers: BTreeSet::new(),
            media_ops: VecDeque::new(),
            events: VecDeque::new(),
            finished: VecDeque::new(),
            event_seq: std::cell::Cell::new(0),
            ports,
            created_total: 0,
            peak: 0,
        }
    }

    /// `reloadxml`: a new dialplan and directory variables for the calls that come
    /// next (calls in progress keep their plan).
    pub fn reload(
        &mut self,
        dialplan: Dialplan,
        users: HashMap<String, BTreeMap<String, String>>,
        clock: Clock,
    ) {
        self.config.dialplan = dialplan;
        self.config.users = users;
        self.event_seq.set(self.event_seq.get() + 1);
        let stamp = Stamp {
            core_uuid: &self.config.core_uuid,
            hostname: &self.config.hostname,
            unix_us: clock.unix_us,
            utc_offset: self.config.utc_offset,
            sequence: self.event_seq.get(),
        };
        let e = Event::new(EventName::ReloadXml, &stamp);
        self.events.push_back(e);
    }

    /// Channels created since start, open now, and the most open at once (`status`).
    pub fn session_counts(&self) -> (u64, usize, usize) {
        (self.created_total, self.sessions.len(), self.peak)
    }

    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn session(&self, uuid: &str) -> Option<&Session> {
        self.sessions.get(uuid)
    }

    pub fn poll_media(&mut self) -> Option<MediaOp> {
        self.media_ops.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_finished(&mut self) -> Option<Finished> {
        self.finished.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn media(&mut self, op: MediaOp) {
        self.media_ops.push_back(op);
    }

    /// One event from the SIP core.
    pub fn on_call_event(&mut self, ev: CallEvent, sip: &mut SipCore, clock: Clock) {
        match ev {
            CallEvent::Incoming { leg, call } => self.incoming(leg, *call, sip, clock),
            CallEvent::Progress { leg, code, sdp } => {
                if let Some(uuid) = self.by_leg.get(&leg).cloned() {
                    self.leg_progress(&uuid, code, sdp, sip, clock);
                }
            }
            CallEvent::Answered { leg, sdp } => {
                if let Some(uuid) = self.by_leg.get(&leg).cloned() {
                    self.leg_answered(&uuid, sdp, sip, clock);
                }
            }
            CallEvent::Reoffer { leg, sdp } => self.reoffer(leg, sdp, sip, clock.now),
            CallEvent::ReofferAnswered { leg, sdp } => {
                let Some(uuid) = self.by_leg.get(&leg).cloned() else {
                    return;
                };
                let stream = sdp.and_then(|s| sdp::accept_answer(&s, &self.config.codecs).ok());
                if let (Some(stream), Some(s)) = (stream, self.sessions.get_mut(&uuid)) {
                    s.stream = Some(stream.clone());
                    let id = s.media;
                    self.media(MediaOp::Remote { id, stream });
                }
            }
            CallEvent::Ended { leg, end } => {
                let Some(uuid) = self.by_leg.remove(&leg) else {
                    return;
                };
                let cause = match &end {
                    LegEnd::Bye => HangupCause::NormalClearing,
                    LegEnd::Cancelled => HangupCause::OriginatorCancel,
                    LegEnd::Refused { code, .. } => HangupCause::from_sip(*code),
                    LegEnd::Timeout => HangupCause::RecoveryOnTimerExpire,
                };
                if let Some(s) = self.sessions.get_mut(&uuid) {
                    s.leg = None;
                    s.channel.set("sip_hangup_disposition", end.disposition());
                    if let LegEnd::Refused { code, reason } = &end {
                        s.channel.set("sip_term_status", &code.to_string());
                        s.channel.set("sip_term_phrase", reason);
                    }
                }
                self.hangup(&uuid, cause, sip, clock);
            }
        }
    }

    /// One notice from the media engine.
    pub fn on_media(&mut self, notice: MediaNotice, sip: &mut SipCore, clock: Clock) {
        match notice {
            MediaNotice::PlaybackDone { id, token } => {
                let Some(uuid) = self.by_media.get(&id).cloned() else {
                    return;
                };
                if let Some(s) = self.sessions.get_mut(&uuid) {
                    if s.wait == Wait::Playback(token) {
                        s.wait = Wait::Ready;
                        self.run(&uuid, sip, clock);
                    }
                }
            }
            MediaNotice::RtpTimeout { id } => {
                let Some(uuid) = self.by_media.get(&id).cloned() else {
                    return;
                };
                tracing::info!(uuid = %uuid, "no RTP from the phone for rtp-timeout-sec: hanging up");
                self.hangup(&uuid, HangupCause::MediaTimeout, sip, clock);
            }
        }
    }

    /// Timers due: sleeps end, dials time out.
    pub fn handle_timeout(&mut self, sip: &mut SipCore, clock: Clock) {
        while let Some((at, timer)) = self.timers.first().cloned() {
            if at > clock.now {
                break;
            }
            self.timers.remove(&(at, timer.clone()));
            match timer {
                Timer::Wake(uuid) => {
                    let due = self
                        .sessions
                        .get(&uuid)
                        .is_some_and(|s| s.wait == Wait::Until(at));
                    if due {
                        if let Some(s) = self.sessions.get_mut(&uuid) {
                            s.wait = Wait::Ready;
                        }
                        self.run(&uuid, sip, clock);
                    }
                }
                Timer::DialTimeout(id) => self.dial_timeout(id, sip, clock),
            }
        }
    }

    /// A new call from a phone: a channel, its media, the hunt, and off it runs.
    fn incoming(&mut self, leg: LegId, call: IncomingCall, sip: &mut SipCore, clock: Clock) {
        if self.sessions.len() >= self.config.max_sessions {
            tracing::warn!(from = %call.from_user, "max-sessions reached: call refused");
            let cause = HangupCause::SwitchCongestion;
            sip.hangup(leg, 503, Some(&q850(cause)), clock.now);
            return;
        }
        let uuid = crate::ids::uuid_v4();
        let user_vars = call
            .auth_user
            .as_ref()
            .and_then(|u| self.config.users.get(u))
            .cloned()
            .unwrap_or_default();
        let context = match &call.auth_user {
            Some(_) => user_vars
                .get("user_context")
                .filter(|c| !c.is_empty())
                .cloned()
                .unwrap_or_else(|| "default".into()),
            None => self.config.context.clone(),
        };
        let source = call.source.addr;
        let profile = CallerProfile {
            username: call.auth_user.clone().unwrap_or_default(),
            caller_id_name: call
                .from_display
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| call.from_user.clone()),
            caller_id_number: call.from_user.clone(),
            ani: call.from_user.clone(),
            destination_number: call.destination.clone(),
            network_addr: source.ip().to_string(),
            context,
            dialplan: "XML".into(),
            source: "mod_sofia".into(),
        };
        let name = format!(
            "sofia/{}/{}@{}",
            self.config.profile, call.from_user, call.from_host
        );
        let mut channel = Channel::new(uuid.clone(), name, profile);
        for (n, v) in &user_vars {
            channel.set(n, v);
        }
        let transport = match call.source.transport {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        };
        for (n, v) in [
            ("direction", "inbound"),
            ("sip_call_id", call.call_id.as_str()),
            ("sip_from_user", call.from_user.as_str()),
            ("sip_from_host", call.from_host.as_str()),
            ("sip_to_user", call.to_user.as_str()),
            ("sip_req_user", call.destination.as_str()),
            ("sip_network_ip", &source.ip().to_string()),
            ("sip_network_port", &source.port().to_string()),
            ("sip_received_ip", &source.ip().to_string()),
            ("sip_via_protocol", transport),
            ("sofia_profile_name", self.config.profile.as_str()),
            ("domain_name", self.config.domain.as_str()),
        ] {
            channel.set(n, v);
        }
        if let Some(u) = &call.auth_user {
            channel.set("sip_auth_username", u);
            channel.set("user_name", u);
        }
        if let Some(ua) = &call.user_agent {
            channel.set("sip_user_agent", ua);
        }
        for (n, v) in &call.x_headers {
            channel.set(&format!("sip_h_{n}"), v);
        }
        let media = self.next_id();
        let local_rtp = match self.ports.open(media) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(%uuid, error = %e, "no RTP port for the call: refused (widen rtp-start-port/rtp-end-port?)");
                sip.hangup(
                    leg,
                    503,
                    Some(&q850(HangupCause::SwitchCongestion)),
                    clock.now,
                );
                return;
            }
        };
        let negotiated = sdp::answer(&call.sdp, &self.config.codecs, local_rtp, clock.unix_us);
        let mut session = new_session(channel, Some(leg), false, media, local_rtp, clock);
        self.by_leg.insert(leg, uuid.clone());
        self.by_media.insert(media, uuid.clone());
        match negotiated {
            Ok((answer, stream)) => {
                set_codec_vars(&mut session.channel, &stream);
                session.local_sdp = Some(answer);
                session.stream = Some(stream.clone());
                self.sessions.insert(uuid.clone(), session);
                self.media(MediaOp::Remote { id: media, stream });
            }
            Err(e) => {
                tracing::info!(%uuid, error = %e, "cannot answer the caller's SDP offer");
                self.sessions.insert(uuid.clone(), session);
                self.emit(&uuid, EventName::ChannelCreate, clock);
                self.hangup(&uuid, HangupCause::IncompatibleDestination, sip, clock);
                return;
            }
        }
        self.count_new();
        tracing::info!(%uuid, from = %call.from_user, to = %call.destination, peer = %source, "new call");
        self.emit(&uuid, EventName::ChannelCreate, clock);
        self.route(&uuid, sip, clock);
    }

    /// Hunts the channel's context for its destination, then runs the plan.
    pub(super) fn route(&mut self, uuid: &str, sip: &mut SipCore, clock: Clock) {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        let _ = s.channel.set_state(ChannelState::Routing);
        let context = s.channel.profile.context.clone();
        let civil =
            CivilTime::from_unix((clock.unix_us / 1_000_000) as i64, self.config.utc_offset);
        let plan = self.config.dialplan.hunt(&context, &mut s.channel, &civil);
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
    pub(super) fn run(&mut self, uuid: &str, sip: &mut SipCore, clock: Clock) {
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
            let data = dialplan::expand(&step.data, &s.channel);
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

    fn execute(&mut self, uuid: &str, app: App, sip: &mut SipCore, clock: Clock) {
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
    pub(super) fn answer(&mut self, uuid: &str, sip: &mut SipCore, clock: Clock) {
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
    pub(super) fn pre_answer(&mut self, uuid: &str, sip: &mut SipCore, clock: Clock) {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        if s.answered || s.early_media || s.outbound {
            return;
        }
        s.early_media = true;
        s.channel.callstate = CallState::Early;
        if let (Some(leg), Some(sdp)) = (s.leg, s.local_sdp.clone()) {
            sip.progress(leg, 183, Some(&sdp), clock.now);
        }
        self.emit(uuid, EventName::ChannelProgressMedia, clock);
    }

    /// 180 Ringing.
    pub(super) fn ring_ready(&mut self, uuid: &str, sip: &mut SipCore, clock: Clock) {
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

    fn respond(
        &mut self,
        uuid: &str,
        code: u16,
        reason: Option<String>,
        sip: &mut SipCore,
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
                        sip.hangup(leg, c, None, clock.now);
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
        sip: &mut SipCore,
        clock: Clock,
    ) {
        self.unbridge(uuid, sip, clock);
        let Some(s) = self.sessions.get_mut(uuid) else {
            return;
        };
        s.channel.profile.destination_number = extension.to_string();
        if let Some(c) = context {
            s.channel.profile.context = c.to_string();
        }
        s.wait = Wait::Ready;
        let id = s.media;
        self.media(MediaOp::Idle { id });
        self.route(uuid, sip, clock);
    }

    /// Ends a channel with `cause`: its SIP leg, its bridge or dial, its media; emits
    /// the hangup events and leaves its record for the CDR writer.
    pub fn hangup(&mut self, uuid: &str, cause: HangupCause, sip: &mut SipCore, clock: Clock) {
        let Some(mut s) = self.sessions.remove(uuid) else {
            return;
        };
        if let Some(leg) = s.leg.take() {
            self.by_leg.remove(&leg);
            let code = if s.outbound && !s.answered {
                487
            } else {
                cause.to_sip()
            };
            sip.hangup(leg, code, Some(&q850(cause)), clock.now);
            if s.channel.get("sip_hangup_disposition").is_none() {
                let d = if s.answered {
                    "send_bye"
                } else if s.outbound {
                    "send_cancel"
                } else {
                    "send_refuse"
                };
                s.channel.set("sip_hangup_disposition", d);
            }
        }
        s.channel.hangup(cause);
        s.channel.callstate = CallState::Hangup;
        self.by_media.remove(&s.media);
        tracing::info!(uuid = %uuid, cause = %cause, "hangup");
        let peer = s.peer.take();
        let dialled_by = s.dialled_by.take();
        let dialing = match s.wait {
            Wait::Dialing(d) => Some(d),
            _ => None,
        };
        self.sessions.insert(uuid.to_string(), s);
        self.emit(uuid, EventName::ChannelHangup, clock);
        let Some(mut s) = self.sessions.remove(uuid) else {
            return;
        };
        self.media(MediaOp::Close { id: s.media });
        let _ = s.channel.set_state(ChannelState::Reporting);
        let event = self.channel_event(&s.channel, EventName::ChannelHangupComplete, clock);
        self.events.push_back(event);
        let times = CallTimes {
            start_us: s.start_us,
            answer_us: s.answer_us,
            end_us: clock.unix_us,
        };
        self.finished.push_back(Finished {
            times,
            media: s.media,
            outbound: s.outbound,
            channel: s.channel,
        });
        // Now the channels this one was tied to.
        if let Some(d) = dialing {
            self.abandon_dial(d, sip, clock);
        }
        if let Some(d) = dialled_by {
            self.dialled_leg_failed(d, uuid, cause, sip, clock);
        }
        if let Some(p) = peer {
            self.peer_gone(&p, uuid, cause, sip, clock);
        }
    }

    /// Every channel ends with `cause` (`hupall`).
    pub fn hangup_all(&mut self, cause: HangupCause, sip: &mut SipCore, clock: Clock) -> usize {
        let all: Vec<String> = self.sessions.keys().cloned().collect();
        let n = all.len();
        for uuid in all {
            self.hangup(&uuid, cause, sip, clock);
        }
        n
    }

    /// A re-INVITE or UPDATE: answered from our side, and hold passed to the peer.
    fn reoffer(&mut self, leg: LegId, offer: Option<Sdp>, sip: &mut SipCore, now: Instant) {
        let Some(uuid) = self.by_leg.get(&leg).cloned() else {
            sip.refuse_reoffer(leg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        let Some(s) = self.sessions.get_mut(&uuid) else {
            return;
        };
        let Some(offer) = offer else {
            // No SDP (a session refresh by re-INVITE): our description again.
            let sdp = s.local_sdp.clone();
            sip.answer_reoffer(leg, sdp.as_ref(), now);
            return;
        };
        let session_id = s.local_sdp.as_ref().map_or(0, |l| l.origin.session_id);
        match sdp::answer(&offer, &self.config.codecs, s.local_rtp, session_id) {
            Ok((answer, stream)) => {
                let answer = s.next_sdp(answer);
                sip.answer_reoffer(leg, Some(&answer), now);
                let held = matches!(
                    stream.direction,
                    sdp::Direction::RecvOnly | sdp::Direction::Inactive
                );
                s.channel.callstate = if held {
                    CallState::Held
                } else {
                    CallState::Active
                };
                let offered = offer
                    .media
                    .iter()
                    .find(|m| m.kind == "audio" && m.port != 0)
                    .map(|m| m.direction)
                    .unwrap_or_default();
                s.stream = Some(stream.clone());
                set_codec_vars(&mut s.channel, &stream);
                let id = s.media;
                let peer = s.peer.clone();
                self.media(MediaOp::Remote { id, stream });
                if let Some(p) = peer {
                    self.pass_direction(&p, offered, sip, now);
                }
            }
            Err(e) => {
                tracing::info!(uuid = %uuid, error = %e, "re-INVITE offer refused");
                sip.refuse_reoffer(leg, 488, "Not Acceptable Here", now);
            }
        }
    }

    /// Offers the peer the direction the other side asked for (hold, unhold).
    fn pass_direction(
        &mut self,
        uuid: &str,
        direction: sdp::Direction,
        sip: &mut SipCore,
        now: Instant,
    ) {
        let Some(p) = self.sessions.get_mut(uuid) else {
            return;
        };
        let current = p
            .local_sdp
            .as_ref()
            .and_then(|l| l.media.first())
            .map(|m| m.direction);
        if current == Some(direction) {
            return;
        }
        let (Some(leg), true) = (p.leg, p.answered) else {
            return;
        };
        let offer = sdp::offer(&self.config.codecs, p.local_rtp, 0, direction);
        let offer = p.next_sdp(offer);
        sip.reinvite(leg, &offer, now);
    }

    pub(super) fn push_event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    pub(super) fn emit(&mut self, uuid: &str, name: EventName, clock: Clock) {
        let Some(s) = self.sessions.get(uuid) else {
            return;
        };
        let e = self.channel_event(&s.channel, name, clock);
        self.events.push_back(e);
    }

    pub(super) fn channel_event(&self, channel: &Channel, name: EventName, clock: Clock) -> Event {
        let sequence = self.event_seq.get() + 1;
        self.event_seq.set(sequence);
        let stamp = Stamp {
            core_uuid: &self.config.core_uuid,
            hostname: &self.config.hostname,
            unix_us: clock.unix_us,
            utc_offset: self.config.utc_offset,
            sequence,
        };
        Event::for_channel(name, channel, &stamp)
    }

    fn count_new(&mut self) {
        self.created_total += 1;
        self.peak = self.peak.max(self.sessions.len());
    }

    pub(super) fn register(&mut self, session: Session) {
        let uuid = session.uuid().to_string();
        if let Some(leg) = session.leg {
            self.by_leg.insert(leg, uuid.clone());
        }
        self.by_media.insert(session.media, uuid.clone());
        self.sessions.insert(uuid, session);
        self.count_new();
    }

    pub(super) fn open_media(&mut self) -> io::Result<(MediaId, SocketAddr)> {
        let id = self.next_id();
        let addr = self.ports.open(id)?;
        Ok((id, addr))
    }
}

/// A fresh session around `channel`.
pub(super) fn new_session(
    mut channel: Channel,
    leg: Option<LegId>,
    outbound: bool,
    media: MediaId,
    local_rtp: SocketAddr,
    clock: Clock,
) -> Session {
    channel.set("local_media_ip", &local_rtp.ip().to_string());
    channel.set("local_media_port", &local_rtp.port().to_string());
    Session {
        channel,
        leg,
        outbound,
        media,
        local_rtp,
        local_sdp: None,
        stream: None,
        answered: false,
        early_media: false,
        start_us: clock.unix_us,
        answer_us: None,
        plan: Vec::<Planned>::new(),
        pc: 0,
        wait: Wait::Parked,
        peer: None,
        dialled_by: None,
        application: None,
        created_epoch: clock.unix_us / 1_000_000,
    }
}

/// `read_codec`/`write_codec` and friends, for CDRs and `show channels`.
pub(super) fn set_codec_vars(channel: &mut Channel, stream: &Negotiated) {
    let name = stream.codec.name();
    channel.set("read_codec", name);
    channel.set("write_codec", name);
    channel.set("read_rate", "8000");
    channel.set("write_rate", "8000");
    channel.set("remote_media_ip", &stream.remote.ip().to_string());
    channel.set("remote_media_port", &stream.remote.port().to_string());
}

/// The Reason header for a hangup cause (RFC 3326).
pub(super) fn q850(cause: HangupCause) -> String {
    format!("Q.850;cause={};text=\"{}\"", cause.code(), cause.name())
}
