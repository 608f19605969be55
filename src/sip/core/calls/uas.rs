//! What phones send us about calls: a new INVITE (challenged with 407 when the profile
//! has `auth-calls`), ACK, BYE, CANCEL, and in-dialog re-INVITE, UPDATE, INFO; and the
//! switch's answers on inbound legs (`progress`, `answer`, `answer_reoffer`).

use super::{contact_uri, sdp_body, set_sdp, Leg, Phase, Role};
use crate::sip::core::register::{AuthFor, AuthStep};
use crate::sip::core::SipCore;
use crate::sip::dialog::{CallEvent, IncomingCall, LegEnd, LegId};
use crate::sip::sdp::Sdp;
use crate::sip::transaction::{Peer, TxId};
use crate::sip::wire::{Essentials, Method, Request, Response};
use std::time::Instant;

/// Why a new call was let in.
enum Admitted {
    /// The digest authenticated this directory user.
    User(String),
    /// It came from this gateway's address.
    Gateway(String),
    /// Its source passed the inbound ACL.
    Trusted,
}

/// RFC 4028 §5: the smallest Session-Expires we accept (its recommended Min-SE).
const MIN_SE: u32 = 90;

impl SipCore {
    /// A new INVITE transaction: a new call, or a re-INVITE inside a dialog.
    pub(in crate::sip::core) fn on_invite(
        &mut self,
        tx: TxId,
        req: &Request,
        es: &Essentials,
        peer: Peer,
        now: Instant,
        now_ms: u64,
    ) {
        let call_id = req.headers.call_id().unwrap_or_default().to_string();
        if let Some(tag) = es.to.tag() {
            return self.on_reinvite(tx, req, &call_id, tag, now);
        }
        // A retransmission after our 2xx ended the first transaction: the 2xx again.
        if let Some(id) = es
            .from
            .tag()
            .and_then(|t| self.legs.find_uas_by_remote(&call_id, t))
        {
            let ok = self.legs.get(id).and_then(|l| {
                (l.invite.headers.cseq().ok()?.seq == es.cseq.seq).then_some(())?;
                l.ok.as_ref().map(|o| o.bytes.clone())
            });
            if let Some(bytes) = ok {
                self.send_raw(peer, bytes);
            }
            // Close the duplicate transaction quietly: its 100 already went out.
            self.transactions.forget(tx);
            return;
        }
        let ip = peer.addr.ip();
        let gateway = self.gateway_at(ip).map(|g| g.name().to_string());
        let trusted = gateway.is_some()
            || self
                .config
                .inbound_acl
                .as_ref()
                .is_some_and(|acl| acl.allows(ip));
        if trusted {
            if let Some(g) = self
                .gateways
                .iter_mut()
                .find(|g| Some(g.name()) == gateway.as_deref())
            {
                g.counts.calls_in += 1;
            }
            let who = match gateway {
                Some(g) => Admitted::Gateway(g),
                None => Admitted::Trusted,
            };
            self.new_call(tx, req, es, who, peer, now);
        } else if self.config.auth_calls {
            let auth_user = match self.authenticate(req, es, AuthFor::Call, peer, now_ms) {
                AuthStep::Passed(user) => user,
                AuthStep::Answer(resp) => {
                    self.transactions.respond(tx, resp, now);
                    return;
                }
            };
            self.new_call(tx, req, es, Admitted::User(auth_user), peer, now);
        } else {
            // FreeSWITCH's external profile: no challenge, so only the carrier's
            // addresses and the inbound ACL may call.
            tracing::warn!(profile = %self.config.profile, peer = %peer.addr,
                destination = %req.uri.user.as_deref().unwrap_or_default(),
                "INVITE from an address that is no gateway of this profile and not in its apply-inbound-acl: 403");
            self.notices
                .push_back(crate::sip::core::CoreNotice::Forbidden {
                    source: ip,
                    reason: "INVITE from outside the inbound ACL".into(),
                });
            let resp = self.reply(req, es, 403, "Forbidden");
            self.transactions.respond(tx, resp, now);
        }
    }

    fn new_call(
        &mut self,
        tx: TxId,
        req: &Request,
        es: &Essentials,
        who: Admitted,
        peer: Peer,
        now: Instant,
    ) {
        let (auth_user, gateway) = match who {
            Admitted::User(u) => (Some(u), None),
            Admitted::Gateway(g) => (None, Some(g)),
            Admitted::Trusted => (None, None),
        };
        let sdp = match sdp_body(&req.headers, &req.body) {
            Some(Ok(sdp)) => Some(sdp),
            Some(Err(e)) => {
                tracing::info!(peer = %peer.addr, error = %e, "INVITE with an unreadable SDP offer");
                let mut resp = self.reply(req, es, 488, "Not Acceptable Here");
                resp.headers
                    .push("Warning", format!("399 loopstart \"{e}\""));
                self.transactions.respond(tx, resp, now);
                return;
            }
            // A late offer: ours goes in the 200, the answer comes in the ACK.
            None => None,
        };
        let session_expires = match session_expires(req) {
            Ok(se) => se,
            Err(()) => {
                let mut resp = self.reply(req, es, 422, "Session Interval Too Small");
                resp.headers.push("Min-SE", MIN_SE.to_string());
                self.transactions.respond(tx, resp, now);
                return;
            }
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_string();
        let remote_target = es
            .contacts
            .iter()
            .find_map(contact_uri)
            .unwrap_or_else(|| es.from.uri.to_string());
        let mut route_set: Vec<String> = req
            .headers
            .get_all("Record-Route")
            .into_iter()
            .map(str::to_string)
            .collect();
        route_set.truncate(16);
        let to = req.headers.get("To").unwrap_or_default().to_string();
        let leg = Leg {
            role: Role::Uas,
            phase: Phase::Early,
            call_id: call_id.clone(),
            local_tag: self.tags.next(),
            local: to,
            remote: req.headers.get("From").unwrap_or_default().to_string(),
            remote_tag: es.from.tag().map(str::to_string),
            remote_target,
            route_set,
            local_cseq: 0,
            peer,
            invite: req.clone(),
            invite_tx: Some(tx),
            ok: None,
            ack: None,
            provisional: false,
            reoffer: None,
            session_expires,
            timer: None,
            login: None,
            answered_nonce: None,
        };
        let Some(id) = self.legs.insert(leg) else {
            let mut resp = self.reply(req, es, 503, "Service Unavailable");
            resp.headers.push("Retry-After", "30");
            self.transactions.respond(tx, resp, now);
            return;
        };
        let x_headers = req
            .headers
            .iter()
            .filter(|h| h.name.len() > 2 && h.name[..2].eq_ignore_ascii_case("x-"))
            .take(32)
            .map(|h| (h.name.to_string(), h.value.to_string()))
            .collect();
        let mut destination = req.uri.user.clone().unwrap_or_default();
        let mut context = None;
        let mut gateway = gateway;
        if let Some(g) = self.registered_gateway(&destination) {
            // A call to the Contact a gateway registered (mod_sofia's `gw+NAME`): the
            // gateway's extension is what was dialled, its context where it goes.
            let to_user = es.to.uri.user.clone().unwrap_or_default();
            destination = match g.setup.extension.as_str() {
                "auto_to_user" | "auto" | "" => to_user,
                ext => ext.to_string(),
            };
            context = Some(g.setup.context.clone());
            gateway = Some(g.name().to_string());
        }
        let call = IncomingCall {
            call_id,
            auth_user,
            from_user: es.from.uri.user.clone().unwrap_or_default(),
            from_display: es.from.display.clone(),
            from_host: es.from.uri.host.to_string(),
            destination,
            to_user: es.to.uri.user.clone().unwrap_or_default(),
            source: peer,
            user_agent: req.headers.get("User-Agent").map(str::to_string),
            sdp,
            x_headers,
            gateway,
            context,
        };
        self.call_events.push_back(CallEvent::Incoming {
            leg: id,
            call: Box::new(call),
        });
    }

    fn on_reinvite(&mut self, tx: TxId, req: &Request, call_id: &str, tag: &str, now: Instant) {
        let Some(id) = self.legs.find(call_id, tag) else {
            let resp = Response::to_request(req, 481, "Call/Transaction Does Not Exist");
            self.transactions.respond(tx, resp, now);
            return;
        };
        let busy = self
            .legs
            .get(id)
            .is_some_and(|l| l.reoffer.is_some() || l.phase != Phase::Answered);
        if busy {
            // RFC 3261 §14.2: an offer while ours is pending.
            let mut resp = self.leg_response(id, req, 491, "Request Pending");
            resp.headers.push("Retry-After", "1");
            self.transactions.respond(tx, resp, now);
            return;
        }
        self.accept_reoffer(id, tx, req, now);
    }

    /// A re-INVITE or UPDATE the switch must answer (new SDP: hold, unhold, codec
    /// change) or that only refreshes the session (no SDP): answered at once.
    fn accept_reoffer(&mut self, id: LegId, tx: TxId, req: &Request, now: Instant) {
        let sdp = match sdp_body(&req.headers, &req.body) {
            Some(Ok(sdp)) => Some(sdp),
            Some(Err(e)) => {
                let mut resp = self.leg_response(id, req, 488, "Not Acceptable Here");
                resp.headers
                    .push("Warning", format!("399 loopstart \"{e}\""));
                self.transactions.respond(tx, resp, now);
                return;
            }
            None => None,
        };
        if let Ok(Some(se)) = session_expires(req) {
            if let Some(leg) = self.legs.get_mut(id) {
                leg.session_expires = Some(se);
            }
        }
        if let Some(leg) = self.legs.get_mut(id) {
            if let Some(uri) = req
                .headers
                .contacts()
                .ok()
                .and_then(|c| c.iter().find_map(contact_uri))
            {
                leg.remote_target = uri;
            }
            leg.reoffer = Some((tx, req.clone()));
        }
        if sdp.is_none() && req.method == Method::Update {
            // A session refresh (RFC 4028): nothing for the switch.
            self.answer_reoffer(id, None, now);
            return;
        }
        self.call_events
            .push_back(CallEvent::Reoffer { leg: id, sdp });
    }

    /// The switch's answer to a [`CallEvent::Reoffer`]: 200 with `sdp` (our current
    /// description, adjusted to the new offer), or without a body for a refresh.
    pub fn answer_reoffer(&mut self, id: LegId, sdp: Option<&Sdp>, now: Instant) {
        let Some((tx, req)) = self.legs.get_mut(id).and_then(|l| l.reoffer.take()) else {
            return;
        };
        let mut resp = self.leg_response(id, &req, 200, "OK");
        self.add_session_timer(id, &req, &mut resp);
        if let Some(sdp) = sdp {
            set_sdp(&mut resp.headers, &mut resp.body, sdp);
        }
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if req.method == Method::Invite {
            let bytes = resp.to_bytes();
            self.transactions.respond(tx, resp, now);
            self.await_ack(id, bytes, cseq, now);
        } else {
            self.transactions.respond(tx, resp, now);
        }
    }

    /// Refuses a pending re-offer (its SDP could not be answered).
    pub fn refuse_reoffer(&mut self, id: LegId, code: u16, reason: &str, now: Instant) {
        let Some((tx, req)) = self.legs.get_mut(id).and_then(|l| l.reoffer.take()) else {
            return;
        };
        let resp = self.leg_response(id, &req, code, reason);
        self.transactions.respond(tx, resp, now);
    }

    /// An ACK for a 2xx: the dialog is confirmed, the 2xx stops.
    pub(in crate::sip::core) fn on_ack(&mut self, req: &Request) {
        let Ok(to) = req.headers.to() else { return };
        let Some(tag) = to.tag() else { return };
        let call_id = req.headers.call_id().unwrap_or_default();
        let Some(id) = self.legs.find(call_id, tag) else {
            return;
        };
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        if leg.ok.as_ref().is_some_and(|o| o.cseq == cseq) {
            leg.ok = None;
            self.legs.set_timer(id, None);
            if let Some(Ok(sdp)) = sdp_body(&req.headers, &req.body) {
                self.call_events
                    .push_back(CallEvent::AckAnswer { leg: id, sdp });
            }
        }
    }

    /// BYE, UPDATE, INFO and OPTIONS inside a dialog; CANCEL of a pending INVITE.
    /// Returns the response for requests that do not belong to a leg (481).
    pub(in crate::sip::core) fn on_dialog_request(
        &mut self,
        tx: TxId,
        req: &Request,
        es: &Essentials,
        now: Instant,
    ) {
        if req.method == Method::Cancel {
            return self.on_cancel(tx, req, es, now);
        }
        let call_id = req.headers.call_id().unwrap_or_default();
        let Some(id) = es.to.tag().and_then(|tag| self.legs.find(call_id, tag)) else {
            let resp = self.reply(req, es, 481, "Call/Transaction Does Not Exist");
            self.transactions.respond(tx, resp, now);
            return;
        };
        match req.method {
            Method::Bye => {
                // The 200 leaves once the call's record is durable: the phone's
                // "call ended" must not outlive a power cut the record did not.
                let resp = self.leg_response(id, req, 200, "OK");
                self.byes.insert(id, (tx, resp));
                let uas_unanswered = self
                    .legs
                    .get(id)
                    .is_some_and(|l| l.role == Role::Uas && l.phase == Phase::Early);
                if uas_unanswered {
                    // A BYE before the 2xx (§15.1.2): the INVITE gets 487.
                    self.reject_invite(id, 487, "Request Terminated", None, now);
                }
                self.end_leg(id, LegEnd::Bye);
            }
            Method::Update => {
                let answered = self
                    .legs
                    .get(id)
                    .is_some_and(|l| l.phase == Phase::Answered && l.reoffer.is_none());
                if answered {
                    self.accept_reoffer(id, tx, req, now);
                } else {
                    let mut resp = self.leg_response(id, req, 491, "Request Pending");
                    resp.headers.push("Retry-After", "1");
                    self.transactions.respond(tx, resp, now);
                }
            }
            _ => {
                // INFO (DTMF, or anything else), OPTIONS: fine.
                let resp = self.leg_response(id, req, 200, "OK");
                self.transactions.respond(tx, resp, now);
                if req.method == Method::Info {
                    match super::dtmf::parse(req) {
                        Some(Ok(dtmf)) => self
                            .call_events
                            .push_back(CallEvent::Dtmf { leg: id, dtmf }),
                        Some(Err(e)) => {
                            tracing::debug!(leg = %id, error = %e, "INFO DTMF not understood")
                        }
                        None => {}
                    }
                }
            }
        }
    }

    fn on_cancel(&mut self, tx: TxId, req: &Request, es: &Essentials, now: Instant) {
        let Some(invite_tx) = self.transactions.find_invite_for_cancel(req) else {
            let resp = self.reply(req, es, 481, "Call/Transaction Does Not Exist");
            self.transactions.respond(tx, resp, now);
            return;
        };
        let resp = self.reply(req, es, 200, "OK");
        self.transactions.respond(tx, resp, now);
        let leg = self
            .legs
            .by_id
            .iter()
            .find(|(_, l)| l.invite_tx == Some(invite_tx) && l.phase == Phase::Early)
            .map(|(id, _)| *id);
        if let Some(id) = leg {
            self.reject_invite(id, 487, "Request Terminated", None, now);
            self.end_leg(id, LegEnd::Cancelled);
        }
    }

    /// 180 or 183 on an inbound leg, with early media SDP for 183.
    pub fn progress(&mut self, id: LegId, code: u16, sdp: Option<&Sdp>, now: Instant) {
        let Some(leg) = self.legs.get(id) else { return };
        let (Some(tx), Phase::Early, Role::Uas) = (leg.invite_tx, leg.phase, leg.role) else {
            return;
        };
        let reason = if code == 180 {
            "Ringing"
        } else {
            "Session Progress"
        };
        let invite = leg.invite.clone();
        let mut resp = self.leg_response(id, &invite, code, reason);
        if let Some(sdp) = sdp {
            set_sdp(&mut resp.headers, &mut resp.body, sdp);
        }
        self.transactions.respond(tx, resp, now);
    }

    /// 200 OK with our SDP on an inbound leg; re-sent until the ACK.
    pub fn answer(&mut self, id: LegId, sdp: &Sdp, now: Instant) {
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let (Some(tx), Phase::Early, Role::Uas) = (leg.invite_tx, leg.phase, leg.role) else {
            return;
        };
        leg.phase = Phase::Answered;
        leg.invite_tx = None;
        let invite = leg.invite.clone();
        let mut resp = self.leg_response(id, &invite, 200, "OK");
        self.add_session_timer(id, &invite, &mut resp);
        set_sdp(&mut resp.headers, &mut resp.body, sdp);
        let bytes = resp.to_bytes();
        let cseq = invite.headers.cseq().map(|c| c.seq).unwrap_or(0);
        self.transactions.respond(tx, resp, now);
        self.await_ack(id, bytes, cseq, now);
    }

    /// Answers the BYE that ended `id` (held until its record was written). Unknown
    /// legs are ignored: the BYE was answered already.
    pub fn acknowledge_bye(&mut self, id: LegId, now: Instant) {
        if let Some((tx, resp)) = self.byes.remove(&id) {
            self.transactions.respond(tx, resp, now);
        }
    }

    /// A final non-2xx answer to the leg's pending INVITE.
    pub(super) fn reject_invite(
        &mut self,
        id: LegId,
        code: u16,
        reason: &str,
        q850: Option<&str>,
        now: Instant,
    ) {
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let Some(tx) = leg.invite_tx.take() else {
            return;
        };
        let invite = leg.invite.clone();
        let mut resp = self.leg_response(id, &invite, code, reason);
        if let Some(r) = q850 {
            resp.headers.push("Reason", r);
        }
        self.transactions.respond(tx, resp, now);
    }

    /// RFC 4028: a 2xx to a request that asked for session timers carries the
    /// interval, with the refresher the UAC chose (or the UAC, so that we never need
    /// to refresh ourselves).
    fn add_session_timer(&self, id: LegId, req: &Request, resp: &mut Response) {
        let Some(se) = self.legs.get(id).and_then(|l| l.session_expires) else {
            return;
        };
        let supported = req
            .headers
            .get_all("Supported")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")));
        if !supported {
            return;
        }
        let refresher = req
            .headers
            .get("Session-Expires")
            .and_then(|v| {
                v.split(';')
                    .skip(1)
                    .find_map(|p| p.trim().strip_prefix("refresher="))
            })
            .map(str::trim)
            .filter(|r| *r == "uas" || *r == "uac")
            .unwrap_or("uac");
        resp.headers
            .push("Session-Expires", format!("{se};refresher={refresher}"));
        resp.headers.push("Require", "timer");
    }
}

/// The Session-Expires interval a request asks for; Err when below [`MIN_SE`].
fn session_expires(req: &Request) -> Result<Option<u32>, ()> {
    let Some(v) = req.headers.get("Session-Expires") else {
        return Ok(None);
    };
    let secs = v.split(';').next().unwrap_or_default().trim();
    match secs.parse::<u32>() {
        Ok(s) if s < MIN_SE => Err(()),
        Ok(s) => Ok(Some(s)),
        Err(_) => Ok(None),
    }
}
