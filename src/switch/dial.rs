//! Bridges and originates: ring the legs of a dial string (`,` at once, `|` in turn),
//! relay their progress to the caller, take the first to answer and drop the rest,
//! and on failure report the cause the way FreeSWITCH does (`originate_disposition`,
//! `DIALSTATUS`, `continue_on_fail`).

use std::time::{Duration, Instant};

use super::cause::HangupCause;
use super::channel::{CallState, CallerProfile, Channel, ChannelState};
use super::dialstring::{DialString, Leg, Target};
use super::engine::{advertise, new_session, set_codec_vars, Clock, MediaOp, Switch, Timer};
use super::event::EventName;
use super::session::{DialId, Wait};
use crate::dialplan::Planned;
use crate::sip::dialog::{GatewayUnavailable, Login, OutboundCall};
use crate::sip::profiles::Profiles;
use crate::sip::sdp::{self, Direction, Sdp};
use crate::sip::transaction::{Peer, TransportKind};

/// FreeSWITCH's default when no call_timeout or originate_timeout is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where one B-leg goes, resolved from its dial string leg.
struct Destination {
    /// The SIP profile that places it.
    profile: usize,
    /// What was dialled: the user, or the number sent to the carrier.
    number: String,
    /// The directory user called (None for a gateway).
    user: Option<String>,
    request_uri: String,
    peer: Peer,
    to: String,
    from_host: Option<String>,
    /// A From user the destination imposes (a gateway's, unless caller-id-in-from).
    from_user: Option<String>,
    login: Option<Login>,
    gateway: Option<String>,
    /// The gateway's `cid-type`, when the call's `sip_cid_type` does not say.
    cid_type: Option<String>,
    /// What to offer, when not the profile's codecs (a gateway's `codec-prefs`).
    codecs: Option<crate::sip::sdp::Offerable>,
}

/// `sip_cid_type` for the B-leg (its own variables first, then the caller's):
/// `pid` adds P-Asserted-Identity toward a gateway.
fn cid_type<'a>(vars: &'a [(String, String)], owner: Option<&'a str>) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(n, _)| n == "sip_cid_type")
        .map(|(_, v)| v.as_str())
        .or(owner)
}

/// What the answering leg does.
#[derive(Debug)]
pub enum Then {
    /// Bridge to the channel that dialled (the `bridge` application).
    Bridge,
    /// `originate ... &app(args)`.
    App { name: String, data: String },
    /// `originate ... EXTENSION [XML] [CONTEXT]`.
    Extension { extension: String, context: String },
}

/// A dial in progress.
#[derive(Debug)]
pub struct Dial {
    /// The channel that runs `bridge` (None for `originate`).
    owner: Option<String>,
    global: Vec<(String, String)>,
    groups: Vec<Vec<Leg>>,
    next_group: usize,
    ringing: Vec<String>,
    last_cause: HangupCause,
    timeout: Duration,
    deadline: Option<Instant>,
    then: Then,
    /// Where an API originate's answer goes (`+OK uuid` or `-ERR CAUSE`).
    reply: Option<tokio::sync::oneshot::Sender<String>>,
}

impl Dial {
    /// A dial about to ring its first group; `timeout` None is FreeSWITCH's 60 s.
    fn new(
        owner: Option<String>,
        dial: DialString,
        timeout: Option<Duration>,
        then: Then,
        reply: Option<tokio::sync::oneshot::Sender<String>>,
    ) -> Dial {
        Dial {
            owner,
            global: dial.global,
            groups: dial.groups,
            next_group: 0,
            ringing: Vec::new(),
            last_cause: HangupCause::NoRouteDestination,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            deadline: None,
            then,
            reply,
        }
    }
}

impl Switch {
    /// The `bridge` application.
    pub(super) fn bridge(
        &mut self,
        uuid: &str,
        dial: DialString,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let timeout = self
            .sessions
            .get(uuid)
            .and_then(|s| s.channel.get("call_timeout"))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&t| t > 0)
            .map(Duration::from_secs);
        let id = self.next_id();
        let d = Dial::new(Some(uuid.to_string()), dial, timeout, Then::Bridge, None);
        self.dials.insert(id, d);
        if let Some(s) = self.sessions.get_mut(uuid) {
            s.wait = Wait::Dialing(id);
        }
        self.next_group(id, sip, clock);
    }

    /// The `originate` API: ring `dial`; the answering leg does `then`. `reply` gets
    /// `+OK <uuid>` once it answers, or `-ERR <CAUSE>`.
    pub fn originate(
        &mut self,
        dial: DialString,
        then: Then,
        reply: tokio::sync::oneshot::Sender<String>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let timeout = dial
            .global
            .iter()
            .find(|(n, _)| n == "originate_timeout" || n == "call_timeout")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .filter(|&t| t > 0)
            .map(Duration::from_secs);
        let id = self.next_id();
        self.dials
            .insert(id, Dial::new(None, dial, timeout, then, Some(reply)));
        self.next_group(id, sip, clock);
    }

    /// Rings the next group of the dial string, or fails the dial when none is left.
    fn next_group(&mut self, id: DialId, sip: &mut Profiles, clock: Clock) {
        loop {
            let Some(d) = self.dials.get_mut(&id) else {
                return;
            };
            let Some(group) = d.groups.get(d.next_group).cloned() else {
                let cause = d.last_cause;
                return self.dial_failed(id, cause, sip, clock);
            };
            d.next_group += 1;
            let deadline = clock.now + group_timeout(&group, &d.global, d.timeout);
            d.deadline = Some(deadline);
            for leg in &group {
                self.ring_leg(id, leg, sip, clock);
            }
            let ringing = self.dials.get(&id).is_some_and(|d| !d.ringing.is_empty());
            if ringing {
                self.timers.insert((deadline, Timer::DialTimeout(id)));
                return;
            }
        }
    }

    /// Starts one leg of a group: for `user/X`, one B-leg per registered contact; for
    /// `sofia/gateway/NAME/NUMBER`, one to the carrier.
    fn ring_leg(&mut self, id: DialId, leg: &Leg, sip: &mut Profiles, clock: Clock) {
        match &leg.target {
            Target::User { user, domain } => {
                for dest in self.user_destinations(id, user, domain.as_deref(), sip) {
                    self.start_b_leg(id, leg, dest, sip, clock);
                }
            }
            Target::Gateway { gateway, number } => match sip.gateway_route(gateway, number) {
                Ok((profile, route)) => {
                    let dest = Destination {
                        profile,
                        number: number.clone(),
                        user: None,
                        request_uri: route.request_uri,
                        peer: route.peer,
                        to: route.to,
                        from_host: Some(route.from_host),
                        from_user: route.from_user,
                        login: Some(route.login),
                        gateway: Some(route.gateway),
                        cid_type: route.cid_type,
                        codecs: route.codecs,
                    };
                    self.start_b_leg(id, leg, dest, sip, clock);
                }
                Err(GatewayUnavailable::Unknown) => {
                    tracing::warn!(%gateway, "bridge to a gateway no SIP profile has (sip_profiles/external/*.xml)");
                    self.set_last_cause(id, HangupCause::InvalidGateway);
                }
                Err(GatewayUnavailable::Down) => {
                    tracing::warn!(%gateway, "gateway is down (it does not answer OPTIONS): call not placed");
                    self.set_last_cause(id, HangupCause::GatewayDown);
                }
            },
            Target::Error(cause) => self.set_last_cause(id, *cause),
            other => {
                tracing::warn!(target = ?other, "this kind of dial string leg is not supported yet");
                self.set_last_cause(id, HangupCause::ChanNotImplemented);
            }
        }
    }

    /// Every registered contact of a directory user, each through the profile it
    /// registered on; none (with the cause set) when the user cannot be reached.
    fn user_destinations(
        &mut self,
        id: DialId,
        user: &str,
        domain: Option<&str>,
        sip: &Profiles,
    ) -> Vec<Destination> {
        if domain.is_some_and(|d| d != self.config.domain) {
            self.set_last_cause(id, HangupCause::NoRouteDestination);
            return Vec::new();
        }
        if !self.config.users.contains_key(user) {
            tracing::info!(%user, "bridge to a user the directory does not have");
            self.set_last_cause(id, HangupCause::UnallocatedNumber);
            return Vec::new();
        }
        let aor = format!("{user}@{}", self.config.domain);
        let bindings = sip.bindings(&aor);
        if bindings.is_empty() {
            tracing::info!(%user, "bridge to a user who is not registered");
            self.set_last_cause(id, HangupCause::UserNotRegistered);
        }
        bindings
            .into_iter()
            .filter_map(|(profile, b)| {
                let addr = b.source.parse().ok()?;
                let transport = if b.transport == "tcp" {
                    TransportKind::Tcp
                } else {
                    TransportKind::Udp
                };
                Some(Destination {
                    profile,
                    number: user.to_string(),
                    user: Some(user.to_string()),
                    request_uri: b.contact_uri,
                    peer: Peer { addr, transport },
                    to: format!("<sip:{user}@{}>", self.config.domain),
                    from_host: None,
                    from_user: None,
                    login: None,
                    gateway: None,
                    cid_type: None,
                    codecs: None,
                })
            })
            .collect()
    }

    fn start_b_leg(
        &mut self,
        id: DialId,
        leg: &Leg,
        dest: Destination,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let Some(d) = self.dials.get(&id) else { return };
        let owner = d.owner.clone();
        // Variables: the owner's exports, then {global}, then [leg].
        let mut vars: Vec<(String, String)> = Vec::new();
        let mut caller = (String::new(), String::new());
        let mut owner_cid = None;
        let mut x_headers = Vec::new();
        if let Some(o) = owner.as_ref().and_then(|o| self.sessions.get(o)) {
            let c = &o.channel;
            owner_cid = c.get("sip_cid_type");
            caller = (
                c.get("effective_caller_id_name")
                    .unwrap_or_else(|| c.profile.caller_id_name.clone()),
                c.get("effective_caller_id_number")
                    .unwrap_or_else(|| c.profile.caller_id_number.clone()),
            );
            for name in c
                .get("export_vars")
                .unwrap_or_default()
                .split(',')
                .filter(|n| !n.is_empty())
            {
                if let Some(v) = c.get(&format!("__export_{name}")) {
                    vars.push((name.to_string(), v));
                }
            }
            for (n, v) in c.variables() {
                if let Some(h) = n.strip_prefix("sip_h_") {
                    x_headers.push((h.to_string(), v.to_string()));
                }
            }
        }
        vars.extend(d.global.iter().cloned());
        vars.extend(leg.vars.iter().cloned());
        for (n, v) in &vars {
            match n.as_str() {
                "origination_caller_id_name" => caller.0 = v.clone(),
                "origination_caller_id_number" => caller.1 = v.clone(),
                _ => {
                    if let Some(h) = n.strip_prefix("sip_h_") {
                        x_headers.push((h.to_string(), v.clone()));
                    }
                }
            }
        }
        if caller.1.is_empty() {
            caller = ("loopstart".into(), "0000000000".into());
        }
        let (media, local_rtp) = match self.open_media() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port for a B-leg (widen the RTP port range?)");
                self.set_last_cause(id, HangupCause::SwitchCongestion);
                return;
            }
        };
        let profile_name = self.config.profile(dest.profile).name.clone();
        let sdp_rtp = self
            .config
            .profile(dest.profile)
            .sdp_address(local_rtp, dest.peer.addr.ip());
        let codecs = dest
            .codecs
            .as_ref()
            .unwrap_or(&self.config.profile(dest.profile).codecs);
        let offer = sdp::offer(codecs, sdp_rtp, clock.unix_us, Direction::SendRecv);
        if dest.gateway.is_some()
            && cid_type(&vars, owner_cid.as_deref()).or(dest.cid_type.as_deref()) == Some("pid")
        {
            let host = dest.from_host.clone().unwrap_or_default();
            x_headers.push((
                "P-Asserted-Identity".into(),
                format!(
                    "\"{}\" <sip:{}@{host}>",
                    caller.0.replace('"', ""),
                    caller.1
                ),
            ));
        }
        let call = OutboundCall {
            request_uri: dest.request_uri.clone(),
            peer: dest.peer,
            to: dest.to.clone(),
            from_user: dest.from_user.clone().unwrap_or_else(|| caller.1.clone()),
            from_display: caller.0.clone(),
            from_host: dest.from_host.clone(),
            sdp: offer.clone(),
            headers: x_headers,
            login: dest.login.clone(),
        };
        let Some(leg_id) = sip.invite(dest.profile, &call, clock.now) else {
            self.media(MediaOp::Close { id: media });
            self.set_last_cause(id, HangupCause::DestinationOutOfOrder);
            return;
        };
        let uuid = crate::ids::uuid_v4();
        let profile = CallerProfile {
            username: dest.user.clone().unwrap_or_default(),
            caller_id_name: caller.0,
            caller_id_number: caller.1,
            ani: String::new(),
            destination_number: dest.number.clone(),
            network_addr: dest.peer.addr.ip().to_string(),
            context: "default".into(),
            dialplan: "XML".into(),
            source: "mod_sofia".into(),
        };
        let name = match &dest.gateway {
            Some(gw) => format!("sofia/gateway/{gw}/{}", dest.number),
            None => format!("sofia/{profile_name}/{}@{}", dest.number, dest.peer.addr),
        };
        let mut channel = Channel::new(uuid.clone(), name, profile);
        for (n, v) in &vars {
            channel.set(n, v);
        }
        channel.set("direction", "outbound");
        channel.set("sofia_profile_name", &profile_name);
        match &dest.gateway {
            Some(gw) => {
                channel.set("sip_gateway_name", gw);
                channel.set("dialed_user", &dest.number);
            }
            None => {
                channel.set("dialed_user", &dest.number);
                channel.set("dialed_domain", &self.config.domain);
            }
        }
        if let Some(o) = &owner {
            channel.set("originator", o);
        }
        let _ = channel.set_state(ChannelState::Init);
        channel.callstate = CallState::Dialing;
        let mut s = new_session(channel, Some(leg_id), true, media, local_rtp, clock);
        advertise(&mut s, sdp_rtp);
        s.local_sdp = Some(offer);
        s.dialled_by = Some(id);
        self.register(s);
        if let Some(d) = self.dials.get_mut(&id) {
            d.ringing.push(uuid.clone());
        }
        self.emit(&uuid, EventName::ChannelCreate, clock);
        tracing::info!(%uuid, number = %dest.number, uri = %dest.request_uri, peer = %dest.peer.addr, "dialling");
    }

    fn set_last_cause(&mut self, id: DialId, cause: HangupCause) {
        if let Some(d) = self.dials.get_mut(&id) {
            d.last_cause = cause;
        }
    }

    /// 180/183 from a dialled leg: the caller hears it ring (or the early media).
    pub(super) fn leg_progress(
        &mut self,
        uuid: &str,
        code: u16,
        sdp: Option<Sdp>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let Some(b) = self.sessions.get_mut(uuid) else {
            return;
        };
        let codecs = &self.config.profile_of(b.leg).codecs;
        let stream = sdp.and_then(|s| sdp::accept_answer(&s, codecs).ok());
        let Some(d) = b.dialled_by else { return };
        b.channel.callstate = if stream.is_some() {
            CallState::Early
        } else {
            CallState::Ringing
        };
        let b_media = b.media;
        if let Some(stream) = &stream {
            b.stream = Some(stream.clone());
            set_codec_vars(&mut b.channel, stream);
            self.media(MediaOp::Remote {
                id: b_media,
                stream: stream.clone(),
            });
        }
        let event = if stream.is_some() {
            EventName::ChannelProgressMedia
        } else {
            EventName::ChannelProgress
        };
        self.emit(uuid, event, clock);
        let Some(owner) = self.dials.get(&d).and_then(|d| d.owner.clone()) else {
            return;
        };
        if stream.is_some() && code == 183 {
            self.pre_answer(&owner, sip, clock);
            if let Some(a) = self.sessions.get(&owner).map(|a| a.media) {
                self.media(MediaOp::Bridge { a, b: b_media });
            }
        } else {
            self.ringback(&owner, sip, clock);
        }
    }

    /// The caller hears the callee ring: FreeSWITCH's `ringback` variable played as
    /// early media (once: further 180s change nothing), or a plain 180.
    fn ringback(&mut self, owner: &str, sip: &mut Profiles, clock: Clock) {
        let Some(a) = self.sessions.get(owner) else {
            return;
        };
        if a.answered || a.early_media {
            return;
        }
        let tone = a
            .channel
            .get("ringback")
            .filter(|r| !r.is_empty())
            .and_then(|r| crate::media::tone::ToneSpec::parse(&r).ok());
        let Some(mut tone) = tone else {
            return self.ring_ready(owner, sip, clock);
        };
        tone.loops = crate::media::tone::Loops::Forever;
        let id = a.media;
        self.pre_answer(owner, sip, clock);
        let token = self.next_id();
        self.media(MediaOp::Play { id, tone, token });
    }

    /// 2xx from a dialled leg: it wins; the others are cancelled.
    pub(super) fn leg_answered(
        &mut self,
        uuid: &str,
        sdp: Option<Sdp>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let Some(b) = self.sessions.get_mut(uuid) else {
            return;
        };
        let codecs = &self.config.profile_of(b.leg).codecs;
        let stream = sdp.and_then(|s| sdp::accept_answer(&s, codecs).ok());
        if let Some(stream) = &stream {
            b.stream = Some(stream.clone());
            set_codec_vars(&mut b.channel, stream);
        }
        let Some(d) = b.dialled_by.take() else { return };
        b.answered = true;
        b.answer_us = Some(clock.unix_us);
        b.channel.callstate = super::channel::CallState::Active;
        let _ = b.channel.set_state(ChannelState::ExchangeMedia);
        let b_media = b.media;
        if let Some(stream) = stream {
            self.media(MediaOp::Remote {
                id: b_media,
                stream,
            });
        } else {
            tracing::warn!(%uuid, "the answering phone's SDP is missing or has no codec we share");
        }
        self.emit(uuid, EventName::ChannelAnswer, clock);
        let Some(mut dial) = self.dials.remove(&d) else {
            return;
        };
        for other in std::mem::take(&mut dial.ringing) {
            if other != uuid {
                if let Some(o) = self.sessions.get_mut(&other) {
                    o.dialled_by = None;
                }
                self.hangup(&other, HangupCause::LoseRace, sip, clock);
            }
        }
        match dial.then {
            Then::Bridge => {
                let Some(owner) = dial.owner else { return };
                if !self.sessions.contains_key(&owner) {
                    self.hangup(uuid, HangupCause::OriginatorCancel, sip, clock);
                    return;
                }
                self.answer(&owner, sip, clock);
                self.join(&owner, uuid, clock);
            }
            Then::App { name, data } => {
                self.start_plan(uuid, vec![planned(&name, &data)], sip, clock);
                if let Some(r) = dial.reply {
                    let _ = r.send(format!("+OK {uuid}\n"));
                }
            }
            Then::Extension { extension, context } => {
                if let Some(r) = dial.reply {
                    let _ = r.send(format!("+OK {uuid}\n"));
                }
                if let Some(s) = self.sessions.get_mut(uuid) {
                    s.channel.profile.destination_number = extension;
                    s.channel.profile.context = context;
                }
                self.route(uuid, sip, clock);
            }
        }
    }

    fn start_plan(&mut self, uuid: &str, plan: Vec<Planned>, sip: &mut Profiles, clock: Clock) {
        if let Some(s) = self.sessions.get_mut(uuid) {
            s.plan = plan;
            s.pc = 0;
            s.wait = Wait::Ready;
            let _ = s.channel.set_state(ChannelState::Execute);
        }
        self.run(uuid, sip, clock);
    }

    /// Bridges two answered channels: media relayed between them, both wait.
    pub(super) fn join(&mut self, a: &str, b: &str, clock: Clock) {
        let (Some(am), Some(bm)) = (
            self.sessions.get(a).map(|s| s.media),
            self.sessions.get(b).map(|s| s.media),
        ) else {
            return;
        };
        for (me, other) in [(a, b), (b, a)] {
            if let Some(s) = self.sessions.get_mut(me) {
                s.peer = Some(other.to_string());
                s.wait = Wait::Bridged;
                let _ = s.channel.set_state(ChannelState::ExchangeMedia);
                s.channel.set("bridge_uuid", other);
                s.channel.set("signal_bond", other);
            }
        }
        if let Some(s) = self.sessions.get_mut(a) {
            s.channel.set("bleg_uuid", b);
            s.channel.set("last_bridge_to", b);
        }
        self.media(MediaOp::Bridge { a: am, b: bm });
        let Some(sa) = self.sessions.get(a).filter(|_| self.events_wanted()) else {
            return;
        };
        let mut e = self.channel_event(&sa.channel, EventName::ChannelBridge, clock);
        e.add("Bridge-A-Unique-ID", a);
        e.add("Bridge-B-Unique-ID", b);
        self.push_event(e);
    }

    /// `uuid_bridge A B`: both must exist; the unanswered are answered first.
    pub fn uuid_bridge(
        &mut self,
        a: &str,
        b: &str,
        sip: &mut Profiles,
        clock: Clock,
    ) -> Result<(), String> {
        for u in [a, b] {
            if !self.sessions.contains_key(u) {
                return Err(format!("no such channel {u}"));
            }
        }
        self.unbridge(a, sip, clock);
        self.unbridge(b, sip, clock);
        self.answer(a, sip, clock);
        self.answer(b, sip, clock);
        self.join(a, b, clock);
        Ok(())
    }

    /// `uuid_transfer -both`: the channel and the one bridged to it each go to
    /// `extension` and hunt it afresh; neither reacts to the other leaving, as
    /// FreeSWITCH flags both CF_REDIRECT before transferring them.
    pub fn transfer_both(
        &mut self,
        uuid: &str,
        extension: &str,
        context: Option<&str>,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        if let Some(peer) = self.sessions.get_mut(uuid).and_then(|s| s.peer.take()) {
            if let Some(p) = self.sessions.get_mut(&peer) {
                if p.peer.as_deref() == Some(uuid) {
                    p.peer = None;
                }
            }
            self.emit(uuid, EventName::ChannelUnbridge, clock);
            self.emit(&peer, EventName::ChannelUnbridge, clock);
            self.transfer(&peer, extension, context, sip, clock);
        }
        self.transfer(uuid, extension, context, sip, clock);
    }

    /// Undoes a bridge without hanging up (transfer); the peer reacts as to a hangup.
    pub(super) fn unbridge(&mut self, uuid: &str, sip: &mut Profiles, clock: Clock) {
        let Some(peer) = self.sessions.get_mut(uuid).and_then(|s| s.peer.take()) else {
            return;
        };
        self.emit(uuid, EventName::ChannelUnbridge, clock);
        self.peer_gone(&peer, uuid, HangupCause::NormalClearing, sip, clock);
    }

    /// The channel bridged to `peer` is gone (hung up or transferred away): a dialled
    /// leg hangs up too; a channel running a plan goes on with it unless
    /// `hangup_after_bridge` says otherwise.
    pub(super) fn peer_gone(
        &mut self,
        peer: &str,
        gone: &str,
        cause: HangupCause,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let Some(p) = self.sessions.get_mut(peer) else {
            return;
        };
        if p.peer.as_deref() != Some(gone) {
            return;
        }
        p.peer = None;
        p.channel.set("last_bridge_hangup_cause", cause.name());
        let id = p.media;
        let has_plan = !p.plan.is_empty();
        let hang = !has_plan || p.flag("hangup_after_bridge");
        self.media(MediaOp::Idle { id });
        self.emit(peer, EventName::ChannelUnbridge, clock);
        if hang {
            self.hangup(peer, cause, sip, clock);
        } else if let Some(p) = self.sessions.get_mut(peer) {
            p.wait = Wait::Ready;
            self.run(peer, sip, clock);
        }
    }

    /// A dialled leg failed (refused, timed out, or hung up while ringing).
    pub(super) fn dialled_leg_failed(
        &mut self,
        id: DialId,
        uuid: &str,
        cause: HangupCause,
        sip: &mut Profiles,
        clock: Clock,
    ) {
        let Some(d) = self.dials.get_mut(&id) else {
            return;
        };
        d.ringing.retain(|u| u != uuid);
        if cause != HangupCause::LoseRace {
            d.last_cause = cause;
        }
        if d.ringing.is_empty() {
            self.next_group(id, sip, clock);
        }
    }

    /// call_timeout (or the group's leg_timeout): every leg still ringing is
    /// cancelled, and the next group rings; with none left the dial fails NO_ANSWER.
    pub(super) fn dial_timeout(&mut self, id: DialId, sip: &mut Profiles, clock: Clock) {
        let Some(d) = self.dials.get_mut(&id) else {
            return;
        };
        if d.deadline.is_none_or(|at| at > clock.now) {
            return;
        }
        let ringing = std::mem::take(&mut d.ringing);
        d.last_cause = HangupCause::NoAnswer;
        for uuid in ringing {
            if let Some(s) = self.sessions.get_mut(&uuid) {
                s.dialled_by = None;
            }
            self.hangup(&uuid, HangupCause::NoAnswer, sip, clock);
        }
        // As FreeSWITCH times each `|` group on its own: the next group, if any.
        self.next_group(id, sip, clock);
    }

    /// The dialling channel hung up: its legs are cancelled.
    pub(super) fn abandon_dial(&mut self, id: DialId, sip: &mut Profiles, clock: Clock) {
        let Some(d) = self.dials.remove(&id) else {
            return;
        };
        for uuid in d.ringing {
            if let Some(s) = self.sessions.get_mut(&uuid) {
                s.dialled_by = None;
            }
            self.hangup(&uuid, HangupCause::OriginatorCancel, sip, clock);
        }
    }

    fn dial_failed(&mut self, id: DialId, cause: HangupCause, sip: &mut Profiles, clock: Clock) {
        let Some(d) = self.dials.remove(&id) else {
            return;
        };
        if let Some(r) = d.reply {
            let _ = r.send(format!("-ERR {}\n", cause.name()));
        }
        let Some(owner) = d.owner else { return };
        let Some(s) = self.sessions.get_mut(&owner) else {
            return;
        };
        s.channel.set("originate_disposition", cause.name());
        s.channel.set("DIALSTATUS", dial_status(cause));
        s.channel.set("last_bridge_hangup_cause", cause.name());
        let go_on = s.channel.get("continue_on_fail").is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v == "true"
                || v.split(',').any(|c| {
                    c.trim().eq_ignore_ascii_case(cause.name())
                        || c.trim() == cause.code().to_string()
                })
        });
        tracing::info!(uuid = %owner, cause = %cause, continue_on_fail = go_on, "bridge failed");
        if go_on {
            s.wait = Wait::Ready;
            self.run(&owner, sip, clock);
        } else {
            self.hangup(&owner, cause, sip, clock);
        }
    }
}

/// How long a group rings: its legs' `leg_timeout` (the longest, when every leg
/// has one), else the dial's call_timeout.
fn group_timeout(group: &[Leg], global: &[(String, String)], dial: Duration) -> Duration {
    let of = |vars: &[(String, String)]| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == "leg_timeout")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .filter(|&t| t > 0)
    };
    let fallback = of(global);
    let per_leg: Option<Vec<u64>> = group.iter().map(|l| of(&l.vars).or(fallback)).collect();
    match per_leg {
        Some(t) if !t.is_empty() => Duration::from_secs(t.into_iter().max().unwrap_or(0)),
        _ => dial,
    }
}

/// Asterisk-style DIALSTATUS, which FreeSWITCH also sets.
fn dial_status(cause: HangupCause) -> &'static str {
    match cause {
        HangupCause::UserBusy => "BUSY",
        HangupCause::NoAnswer | HangupCause::NoUserResponse => "NOANSWER",
        HangupCause::OriginatorCancel => "CANCEL",
        HangupCause::UserNotRegistered | HangupCause::UnallocatedNumber => "CHANUNAVAIL",
        _ => "CONGESTION",
    }
}

fn planned(name: &str, data: &str) -> Planned {
    Planned {
        application: name.to_string(),
        data: data.to_string(),
        extension: "originate".into(),
    }
}
