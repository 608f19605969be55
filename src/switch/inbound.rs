//! Calls from phones: a new INVITE becomes a channel with its media and routes;
//! a re-INVITE or UPDATE is answered, and hold or unhold is offered to the other leg.

use std::time::Instant;

use super::cause::HangupCause;
use super::channel::{CallState, CallerProfile, Channel};
use super::engine::{advertise, new_session, q850, set_codec_vars, Clock, MediaOp, Switch};
use super::event::EventName;
use crate::sip::dialog::{IncomingCall, LegId};
use crate::sip::profiles::Profiles;
use crate::sip::sdp::{self, Sdp};
use crate::sip::transaction::TransportKind;

impl Switch {
    /// A new call from a phone: a channel, its media, the hunt, and off it runs.
    pub(super) fn incoming(
        &mut self,
        leg: LegId,
        call: IncomingCall,
        sip: &mut Profiles,
        clock: Clock,
    ) {
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
            None => call
                .context
                .clone()
                .unwrap_or_else(|| self.config.profile_of(Some(leg)).context.clone()),
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
            self.config.profile_of(Some(leg)).name,
            call.from_user,
            call.from_host
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
            (
                "sofia_profile_name",
                self.config.profile_of(Some(leg)).name.as_str(),
            ),
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
        if let Some(gw) = &call.gateway {
            // mod_sofia's name on inbound legs (outbound ones say sip_gateway_name).
            channel.set("sip_gateway", gw);
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
        let mut session = new_session(channel, Some(leg), false, media, local_rtp, clock);
        let sdp_rtp = self
            .config
            .profile_of(Some(leg))
            .sdp_address(local_rtp, source.ip());
        advertise(&mut session, sdp_rtp);
        self.by_leg.insert(leg, uuid.clone());
        self.by_media.insert(media, uuid.clone());
        let Some(offer) = &call.sdp else {
            // A late offer: our offer goes in the 200, the answer will be in the ACK.
            let ours = sdp::offer(
                &self.config.profile_of(Some(leg)).codecs,
                sdp_rtp,
                clock.unix_us,
                sdp::Direction::SendRecv,
            );
            session.local_sdp = Some(ours);
            self.sessions.insert(uuid.clone(), session);
            return self.start(&uuid, &call, sip, clock);
        };
        let codecs = &self.config.profile_of(Some(leg)).codecs;
        match sdp::answer(offer, codecs, sdp_rtp, clock.unix_us) {
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
        self.start(&uuid, &call, sip, clock);
    }

    /// The new channel is counted, announced and routed.
    fn start(&mut self, uuid: &str, call: &IncomingCall, sip: &mut Profiles, clock: Clock) {
        let source = call.source.addr;
        self.count_new();
        tracing::info!(%uuid, from = %call.from_user, to = %call.destination, peer = %source, "new call");
        self.emit(uuid, EventName::ChannelCreate, clock);
        self.route(uuid, sip, clock);
    }

    /// A re-INVITE or UPDATE: answered from our side, and hold passed to the peer.
    pub(super) fn reoffer(
        &mut self,
        leg: LegId,
        offer: Option<Sdp>,
        sip: &mut Profiles,
        now: Instant,
    ) {
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
        let codecs = &self.config.profile_of(Some(leg)).codecs;
        match sdp::answer(&offer, codecs, s.sdp_rtp, session_id) {
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
        sip: &mut Profiles,
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
        let offer = sdp::offer(
            &self.config.profile_of(Some(leg)).codecs,
            p.sdp_rtp,
            0,
            direction,
        );
        let offer = p.next_sdp(offer);
        sip.reinvite(leg, &offer, now);
    }
}
