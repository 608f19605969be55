//! The switch, sans-IO: call events from the SIP core, media events and `now` in;
//! commands to the SIP core (called directly: it is sans-IO too), media operations,
//! channel events and finished channels (for CDRs) out, and the next wake-up.
//!
//! Each inbound call (`inbound.rs`) becomes a channel that hunts the dialplan and runs
//! the planned applications one by one (`execute.rs`); an application either completes
//! at once (set, answer, log) or leaves the channel waiting ([`Wait`]) for a timer, the
//! end of a playback, a bridge's outcome or a hangup. Bridges and originates live in
//! `dial.rs`; this file holds the state, the inputs and outputs, and hangup.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::cause::HangupCause;
use super::cdr::CallTimes;
use super::channel::{CallState, Channel, ChannelState};
use super::dial::Dial;
use super::event::{Event, EventName, Stamp};
use super::session::{DialId, MediaId, Session, Wait};
use crate::dialplan::{Dialplan, Planned};
use crate::media::tone::ToneSpec;
use crate::sip::dialog::{CallEvent, LegEnd, LegId};
use crate::sip::profiles::Profiles;
use crate::sip::sdp::{self, Negotiated, Offerable};

/// What the switch needs to know about one SIP profile's calls.
#[derive(Clone, Debug)]
pub struct ProfileCalls {
    pub name: String,
    /// The profile's `context` for callers the directory does not vouch for.
    pub context: String,
    pub codecs: Offerable,
    /// Behind NAT (`ext-rtp-ip`): the outside RTP address, and who is inside
    /// (`local-network-acl`).
    pub outside_rtp: Option<(std::net::IpAddr, crate::sip::core::AddressCheck)>,
}

impl ProfileCalls {
    /// The RTP address to describe to a peer at `peer`: ours, or the outside one for a
    /// peer beyond the NAT.
    pub fn sdp_address(&self, local: SocketAddr, peer: std::net::IpAddr) -> SocketAddr {
        match &self.outside_rtp {
            Some((ip, inside)) if !inside.allows(peer) => SocketAddr::new(*ip, local.port()),
            _ => local,
        }
    }
}

/// What the switch needs to know, from the config.
pub struct SwitchConfig {
    /// Every SIP profile, in the order of their cores (a leg's
    /// [`LegId::profile`] indexes it).
    pub profiles: Vec<ProfileCalls>,
    pub domain: String,
    /// Each directory user's variables (user_context, effective_caller_id_*, ...).
    pub users: HashMap<String, BTreeMap<String, String>>,
    pub dialplan: Dialplan,
    /// The box's local time zone, for time conditions, events and CDR stamps (a
    /// call's `timezone` or `tod_tz_offset` variable overrides it for its hunt).
    pub zone: crate::tz::Zone,
    pub max_sessions: usize,
    pub core_uuid: String,
    pub hostname: String,
    /// API commands for `${name(args)}` in conditions and application data that the
    /// switch does not answer itself (`blacklist check ...`): the app layer plugs its
    /// shared, read-mostly guards in here, so the hunt needs no round trip to a task.
    pub api: Option<SwitchApi>,
    /// Most mod_limit hash items at once (`max-limit-keys` in switch.conf).
    pub limit_max_keys: usize,
}

/// See [`SwitchConfig::api`]: `(command, args)` in, its output out; None when there is
/// no such command.
pub type SwitchApi = std::sync::Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

impl SwitchConfig {
    /// The profile at `index`; the first one for an index no core has.
    pub fn profile(&self, index: usize) -> &ProfileCalls {
        // `Switch::new` makes sure there is at least one.
        self.profiles.get(index).unwrap_or(&self.profiles[0])
    }

    /// The profile holding `leg`.
    pub fn profile_of(&self, leg: Option<LegId>) -> &ProfileCalls {
        self.profile(leg.map_or(0, LegId::profile))
    }
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
    /// A DTMF digit into the leg's RTP as telephone-events.
    Dtmf {
        id: MediaId,
        digit: char,
        duration_ms: u32,
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
    /// Seconds east of UTC when it ended, for the record's local stamps.
    pub utc_offset: i32,
    /// The phone's BYE that ended it, to answer once the record is durable
    /// ([`SipCore::acknowledge_bye`]).
    pub bye: Option<LegId>,
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
    pub(super) by_media: HashMap<MediaId, String>,
    pub(super) dials: HashMap<DialId, Dial>,
    pub(super) next_id: u64,
    pub(super) timers: BTreeSet<(Instant, Timer)>,
    media_ops: VecDeque<MediaOp>,
    events: VecDeque<Event>,
    finished: VecDeque<Finished>,
    event_seq: std::cell::Cell<u64>,
    pub(super) ports: Box<dyn MediaPorts + Send>,
    created_total: u64,
    peak: usize,
    events_wanted: bool,
    /// Zones calls asked for by name (`timezone`), loaded once each.
    pub(super) zones: HashMap<String, Option<crate::tz::Zone>>,
    /// mod_limit's hash backend: the switch owns call state, so it owns the counts.
    pub(super) limits: crate::guard::limit::HashLimits,
}

impl Switch {
    pub fn new(mut config: SwitchConfig, ports: Box<dyn MediaPorts + Send>) -> Switch {
        if config.profiles.is_empty() {
            config.profiles.push(ProfileCalls {
                name: "internal".into(),
                context: "default".into(),
                codecs: Offerable::default(),
                outside_rtp: None,
            });
        }
        let limits = crate::guard::limit::HashLimits::new(config.limit_max_keys);
        Switch {
            limits,
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
            events_wanted: true,
            zones: HashMap::new(),
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
            utc_offset: self.utc_offset(clock),
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
    pub fn on_call_event(&mut self, ev: CallEvent, sip: &mut Profiles, clock: Clock) {
        match ev {
            CallEvent::Incoming { leg, call } => self.incoming(leg, *call, sip, clock),
            CallEvent::Dtmf { leg, dtmf } => self.on_dtmf(leg, dtmf, sip, clock),
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
                if let (Some(uuid), Some(sdp)) = (self.by_leg.get(&leg).cloned(), sdp) {
                    self.take_answer(&uuid, &sdp);
                }
            }
            CallEvent::AckAnswer { leg, sdp } => {
                let Some(uuid) = self.by_leg.get(&leg).cloned() else {
                    return;
                };
                if !self.take_answer(&uuid, &sdp) {
                    tracing::info!(%uuid, "the caller's answer (in its ACK) shares no codec with our offer");
                    self.hangup(&uuid, HangupCause::IncompatibleDestination, sip, clock);
                }
            }
            CallEvent::Ended { leg, end } => {
                let Some(uuid) = self.by_leg.remove(&leg) else {
                    if end == LegEnd::Bye {
                        sip.acknowledge_bye(leg, clock.now);
                    }
                    return;
                };
                let cause = match &end {
                    LegEnd::Bye => HangupCause::NormalClearing,
                    LegEnd::Cancelled => HangupCause::OriginatorCancel,
                    LegEnd::Refused { code, .. } => HangupCause::from_sip(*code),
                    LegEnd::Timeout => HangupCause::RecoveryOnTimerExpire,
                };
                if end == LegEnd::Bye {
                    match self.sessions.get_mut(&uuid) {
                        Some(s) => s.bye = Some(leg),
                        None => sip.acknowledge_bye(leg, clock.now),
                    }
                }
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

    /// The far end's answer to an offer of ours (a re-INVITE's, or a late-offer
    /// call's 200): the media follow it. False when it has nothing we can use.
    fn take_answer(&mut self, uuid: &str, answer: &sdp::Sdp) -> bool {
        let Some(s) = self.sessions.get_mut(uuid) else {
            return false;
        };
        let codecs = &self.config.profile_of(s.leg).codecs;
        let Ok(stream) = sdp::accept_answer(answer, codecs) else {
            return false;
        };
        set_codec_vars(&mut s.channel, &stream);
        s.stream = Some(stream.clone());
        let id = s.media;
        self.media(MediaOp::Remote { id, stream });
        true
    }

    /// One notice from the media engine.
    pub fn on_media(&mut self, notice: MediaNotice, sip: &mut Profiles, clock: Clock) {
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
    pub fn handle_timeout(&mut self, sip: &mut Profiles, clock: Clock) {
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
        // Expired rate windows; `limit` itself also runs it when due.
        self.limits.cleanup_if_due(clock.unix_us / 1_000_000);
    }

    /// Ends a channel with `cause`: its SIP leg, its bridge or dial, its media; emits
    /// the hangup events and leaves its record for the CDR writer.
    pub fn hangup(&mut self, uuid: &str, cause: HangupCause, sip: &mut Profiles, clock: Clock) {
        let Some(mut s) = self.sessions.remove(uuid) else {
            return;
        };
        // mod_limit's state handler: a call's usage ends with it.
        self.limits.release_call(uuid);
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
        if self.events_wanted {
            let event = self.channel_event(&s.channel, EventName::ChannelHangupComplete, clock);
            self.events.push_back(event);
        }
        let times = CallTimes {
            start_us: s.start_us,
            answer_us: s.answer_us,
            end_us: clock.unix_us,
        };
        let utc_offset = self.utc_offset(clock);
        self.finished.push_back(Finished {
            utc_offset,
            bye: s.bye.take(),
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
    pub fn hangup_all(&mut self, cause: HangupCause, sip: &mut Profiles, clock: Clock) -> usize {
        let all: Vec<String> = self.sessions.keys().cloned().collect();
        let n = all.len();
        for uuid in all {
            self.hangup(&uuid, cause, sip, clock);
        }
        n
    }

    pub(super) fn push_event(&mut self, e: Event) {
        if self.events_wanted {
            self.events.push_back(e);
        }
    }

    /// Seconds east of UTC, now, in the box's zone.
    pub(super) fn utc_offset(&self, clock: Clock) -> i32 {
        self.config
            .zone
            .offset_at((clock.unix_us / 1_000_000) as i64)
    }

    /// Whether anyone listens for events: building one copies every channel variable,
    /// which a box under load should not do for nobody.
    pub fn set_events_wanted(&mut self, wanted: bool) {
        self.events_wanted = wanted;
    }

    pub(super) fn events_wanted(&self) -> bool {
        self.events_wanted
    }

    pub(super) fn emit(&mut self, uuid: &str, name: EventName, clock: Clock) {
        if !self.events_wanted {
            return;
        }
        let Some(s) = self.sessions.get(uuid) else {
            return;
        };
        let e = self.channel_event(&s.channel, name, clock);
        self.events.push_back(e);
    }

    /// What a SIP profile reports, as the event FreeSWITCH fires for it (a gateway's
    /// state: `CUSTOM sofia::gateway_state`), stamped like the switch's own events.
    pub fn notice_event(
        &self,
        profile: &str,
        notice: &crate::sip::core::CoreNotice,
        unix_us: u64,
    ) -> Option<Event> {
        let crate::sip::core::CoreNotice::GatewayState {
            gateway,
            state,
            status,
            code,
            phrase,
        } = notice
        else {
            return None;
        };
        let sequence = self.event_seq.get() + 1;
        self.event_seq.set(sequence);
        let clock = Clock {
            now: Instant::now(),
            unix_us,
        };
        let stamp = Stamp {
            core_uuid: &self.config.core_uuid,
            hostname: &self.config.hostname,
            unix_us,
            utc_offset: self.utc_offset(clock),
            sequence,
        };
        let mut e = Event::new(EventName::Custom, &stamp);
        e.add(
            "Event-Subclass",
            crate::sip::gateway_status::GATEWAY_STATE_SUBCLASS,
        );
        e.add("Profile-Name", profile);
        for (n, v) in crate::sip::gateway_status::gateway_state_event_headers(
            gateway,
            *state,
            *status,
            None,
            *code,
            phrase.as_deref(),
        ) {
            e.add(&n, &v);
        }
        Some(e)
    }

    pub(super) fn channel_event(&self, channel: &Channel, name: EventName, clock: Clock) -> Event {
        let sequence = self.event_seq.get() + 1;
        self.event_seq.set(sequence);
        let stamp = Stamp {
            core_uuid: &self.config.core_uuid,
            hostname: &self.config.hostname,
            unix_us: clock.unix_us,
            utc_offset: self.utc_offset(clock),
            sequence,
        };
        Event::for_channel(name, channel, &stamp)
    }

    pub(super) fn count_new(&mut self) {
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

/// Our SDP toward this session's peer carries `sdp_rtp` (FreeSWITCH's
/// `advertised_media_ip` when it is not the local address).
pub(super) fn advertise(s: &mut Session, sdp_rtp: SocketAddr) {
    s.sdp_rtp = sdp_rtp;
    if sdp_rtp != s.local_rtp {
        s.channel
            .set("advertised_media_ip", &sdp_rtp.ip().to_string());
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
        sdp_rtp: local_rtp,
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
        bye: None,
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
