//! The calls we place (a B-leg to a registered phone), the requests we send on any
//! leg (BYE, CANCEL, re-INVITE), and the answers they get.

use super::{contact_uri, local_user, sdp_body, set_sdp, Leg, Phase, Purpose, Role};
use crate::sip::core::SipCore;
use crate::sip::dialog::{CallEvent, LegEnd, LegId, OutboundCall};
use crate::sip::sdp::Sdp;
use crate::sip::transaction::{Peer, TxEvent, TxId};
use crate::sip::wire::{Method, Request, Response, Uri};
use std::time::Instant;

impl SipCore {
    /// Sends an INVITE for `call`; None when the target URI is unusable or the leg
    /// table is full (the switch treats both as a failed leg).
    pub fn invite(&mut self, call: &OutboundCall, now: Instant) -> Option<LegId> {
        let uri = match Uri::parse(&call.request_uri) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(uri = %call.request_uri, error = %e, "cannot call this contact");
                return None;
            }
        };
        let local_tag = self.tags.next();
        let call_id = format!("{}@{}", self.tags.next(), self.config.contact_host);
        let display = call.from_display.replace(['"', '\\', '\r', '\n'], "");
        let host = call
            .from_host
            .clone()
            .unwrap_or_else(|| self.directory.domain.clone());
        let local = format!("\"{display}\" <sip:{}@{host}>", call.from_user);
        let via = self.via(call.peer);
        let mut req = Request {
            method: Method::Invite,
            uri,
            headers: Default::default(),
            body: Vec::new(),
        };
        req.headers.push("Via", via);
        req.headers.push("Max-Forwards", "70");
        req.headers.push("From", format!("{local};tag={local_tag}"));
        req.headers.push("To", call.to.as_str());
        req.headers.push("Call-ID", call_id.as_str());
        req.headers.push("CSeq", "1 INVITE");
        req.headers
            .push("Contact", self.contact(&call.from_user, call.peer));
        req.headers
            .push("User-Agent", self.config.user_agent.as_str());
        req.headers.push("Allow", super::ALLOW);
        req.headers.push("Supported", "timer");
        for (name, value) in &call.headers {
            req.headers.push(name, value);
        }
        set_sdp(&mut req.headers, &mut req.body, &call.sdp);
        let leg = Leg {
            role: Role::Uac,
            phase: Phase::Early,
            call_id,
            local_tag,
            local,
            remote: call.to.clone(),
            remote_tag: None,
            remote_target: call.request_uri.clone(),
            route_set: Vec::new(),
            local_cseq: 1,
            peer: call.peer,
            invite: req.clone(),
            invite_tx: None,
            ok: None,
            ack: None,
            provisional: false,
            reoffer: None,
            session_expires: None,
            timer: None,
            login: call.login.clone(),
            answered_nonce: None,
        };
        let id = self.legs.insert(leg)?;
        let tx = self.transactions.send_request(req, call.peer, now);
        if let Some(leg) = self.legs.get_mut(id) {
            leg.invite_tx = Some(tx);
        }
        self.legs.by_tx.insert(tx, (id, Purpose::Invite));
        Some(id)
    }

    /// Ends a leg from our side: BYE once answered; CANCEL for an outbound leg still
    /// ringing; for an inbound leg not yet answered, the final response `code` (the
    /// hangup cause's SIP status). `reason` is a Reason header (`Q.850;cause=16;...`).
    pub fn hangup(&mut self, id: LegId, code: u16, reason: Option<&str>, now: Instant) {
        let Some(leg) = self.legs.get(id) else { return };
        match (leg.role, leg.phase) {
            (_, Phase::Answered) => {
                self.send_bye(id, reason, now);
                self.legs.remove(id);
            }
            (Role::Uas, _) => {
                let phrase = status_phrase(code);
                self.reject_invite(id, code, phrase, reason, now);
                self.legs.remove(id);
            }
            (Role::Uac, Phase::Early) => {
                let provisional = leg.provisional;
                if let Some(leg) = self.legs.get_mut(id) {
                    leg.phase = Phase::Cancelling;
                }
                // §9.1: no CANCEL before a provisional response; sent when one comes.
                if provisional {
                    self.send_cancel(id, reason, now);
                }
            }
            (Role::Uac, Phase::Cancelling) => {}
        }
    }

    /// Refuses an inbound leg not yet answered with `code` and `phrase` (the
    /// `respond` application's own words).
    pub fn refuse(&mut self, id: LegId, code: u16, phrase: &str, now: Instant) {
        let unanswered = self
            .legs
            .get(id)
            .is_some_and(|l| l.role == Role::Uas && l.phase == Phase::Early);
        if unanswered {
            self.reject_invite(id, code, phrase, None, now);
            self.legs.remove(id);
        }
    }

    /// A re-INVITE with our new description (hold passed through from the other leg).
    pub fn reinvite(&mut self, id: LegId, sdp: &Sdp, now: Instant) {
        let Some((mut req, peer)) = self.answered_request(id, Method::Invite) else {
            return;
        };
        let Some(user) = self.legs.get(id).map(|l| local_user(&l.local)) else {
            return;
        };
        req.headers.push("Contact", self.contact(&user, peer));
        req.headers.push("Allow", super::ALLOW);
        set_sdp(&mut req.headers, &mut req.body, sdp);
        let tx = self.transactions.send_request(req, peer, now);
        self.legs.by_tx.insert(tx, (id, Purpose::Reinvite));
    }

    /// A DTMF digit to the peer of an answered leg, in an INFO.
    pub fn send_info_dtmf(&mut self, id: LegId, dtmf: super::dtmf::InfoDtmf, now: Instant) {
        let Some((mut req, peer)) = self.answered_request(id, Method::Info) else {
            return;
        };
        super::dtmf::write(&mut req, dtmf);
        let tx = self.transactions.send_request(req, peer, now);
        self.legs.by_tx.insert(tx, (id, Purpose::Info));
    }

    /// A new request in an answered leg's dialog, and where it goes; `None` while the
    /// leg is not answered (or gone).
    fn answered_request(&mut self, id: LegId, method: Method) -> Option<(Request, Peer)> {
        let leg = self.legs.get(id)?;
        if leg.phase != Phase::Answered {
            return None;
        }
        let peer = leg.peer;
        Some((self.in_dialog_request(id, method, None)?, peer))
    }

    fn send_cancel(&mut self, id: LegId, reason: Option<&str>, now: Instant) {
        let Some(leg) = self.legs.get(id) else { return };
        let invite = &leg.invite;
        let mut cancel = Request {
            method: Method::Cancel,
            uri: invite.uri.clone(),
            headers: Default::default(),
            body: Vec::new(),
        };
        for name in ["Via", "From", "To", "Call-ID"] {
            if let Some(v) = invite.headers.get(name) {
                cancel.headers.push(name, v);
            }
        }
        cancel.headers.push("Max-Forwards", "70");
        cancel.headers.push("CSeq", "1 CANCEL");
        if let Some(r) = reason {
            cancel.headers.push("Reason", r);
        }
        let peer = leg.peer;
        let tx = self.transactions.send_request(cancel, peer, now);
        self.legs.by_tx.insert(tx, (id, Purpose::Cancel));
    }

    /// A response our transaction layer matched to one of our requests.
    pub(in crate::sip::core) fn on_leg_response(&mut self, tx: TxId, resp: Response, now: Instant) {
        let Some(&(id, purpose)) = self.legs.by_tx.get(&tx) else {
            return;
        };
        let code = resp.status.code;
        if code >= 200 && !(purpose == Purpose::Invite && code < 300) {
            self.legs.by_tx.remove(&tx);
        }
        match purpose {
            Purpose::Invite => self.on_invite_response(id, resp, now),
            Purpose::Reinvite if code >= 200 => {
                if code < 300 {
                    let cseq = resp.headers.cseq().map(|c| c.seq).unwrap_or(0);
                    self.send_ack(id, cseq);
                    let sdp = sdp_body(&resp.headers, &resp.body).and_then(Result::ok);
                    self.call_events
                        .push_back(CallEvent::ReofferAnswered { leg: id, sdp });
                } else {
                    tracing::info!(%id, code, "re-INVITE refused by the phone");
                }
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, id: LegId, resp: Response, now: Instant) {
        let code = resp.status.code;
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        if code == 100 {
            return;
        }
        if let Some(tag) = resp
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_string))
        {
            if leg.remote_tag.is_none() && code > 100 {
                leg.remote = format!("{};tag={tag}", leg.remote);
                leg.remote_tag = Some(tag);
            }
        }
        if code < 200 {
            let first = !leg.provisional;
            leg.provisional = true;
            if leg.phase == Phase::Cancelling {
                if first {
                    self.send_cancel(id, None, now);
                }
                return;
            }
            let sdp = sdp_body(&resp.headers, &resp.body).and_then(Result::ok);
            self.call_events
                .push_back(CallEvent::Progress { leg: id, code, sdp });
            return;
        }
        if code < 300 {
            if leg.ack.is_some() {
                // A retransmitted 2xx: our ACK again.
                let (peer, ack) = (leg.peer, leg.ack.clone().unwrap_or_default());
                self.send_raw(peer, ack);
                return;
            }
            if let Ok(contacts) = resp.headers.contacts() {
                if let Some(uri) = contacts.iter().find_map(contact_uri) {
                    leg.remote_target = uri;
                }
            }
            leg.route_set = resp
                .headers
                .get_all("Record-Route")
                .into_iter()
                .rev()
                .take(16)
                .map(str::to_string)
                .collect();
            let cancelling = leg.phase == Phase::Cancelling;
            leg.phase = Phase::Answered;
            self.send_ack(id, 1);
            if cancelling {
                // The 200 crossed our CANCEL: the call is answered, end it properly.
                self.send_bye(id, None, now);
                self.legs.remove(id);
                return;
            }
            let sdp = sdp_body(&resp.headers, &resp.body).and_then(Result::ok);
            self.call_events
                .push_back(CallEvent::Answered { leg: id, sdp });
            return;
        }
        let cancelling = leg.phase == Phase::Cancelling;
        if !cancelling && self.answer_invite_challenge(id, &resp, now) {
            return;
        }
        if cancelling {
            self.legs.remove(id);
        } else {
            let reason = resp.status.reason.clone();
            self.end_leg(id, LegEnd::Refused { code, reason });
        }
    }

    /// A carrier's 401/407 to our INVITE: the same INVITE again (new branch, next
    /// CSeq) with our credentials. False when the leg has none, or this challenge was
    /// answered already (wrong credentials: the call fails with the 401/407).
    fn answer_invite_challenge(&mut self, id: LegId, resp: &Response, now: Instant) -> bool {
        let Some((challenge, header)) = crate::sip::auth::challenge_in(resp) else {
            return false;
        };
        let via = {
            let Some(leg) = self.legs.get(id) else {
                return false;
            };
            let fresh = leg.answered_nonce.as_deref() != Some(challenge.nonce.as_str());
            if leg.login.is_none() || !(fresh || challenge.stale) {
                return false;
            }
            let peer = leg.peer;
            self.via(peer)
        };
        let cnonce = self.tags.next();
        let Some(leg) = self.legs.get_mut(id) else {
            return false;
        };
        let Some(login) = leg.login.as_ref() else {
            return false;
        };
        leg.local_cseq += 1;
        let mut invite = leg.invite.clone();
        let uri = invite.uri.to_string();
        let creds = crate::sip::auth::answer(
            &challenge,
            "INVITE",
            &uri,
            &login.username,
            &login.password,
            &cnonce,
            1,
        );
        invite.headers.set("Via", via);
        invite
            .headers
            .set("CSeq", format!("{} INVITE", leg.local_cseq));
        invite.headers.remove("Authorization");
        invite.headers.remove("Proxy-Authorization");
        invite.headers.push(header, creds.to_string());
        leg.answered_nonce = Some(challenge.nonce.clone());
        leg.invite = invite.clone();
        leg.provisional = false;
        leg.remote_tag = None;
        leg.remote = remove_tag(&leg.remote);
        let peer = leg.peer;
        let tx = self.transactions.send_request(invite, peer, now);
        if let Some(leg) = self.legs.get_mut(id) {
            leg.invite_tx = Some(tx);
        }
        self.legs.by_tx.insert(tx, (id, Purpose::Invite));
        tracing::debug!(%id, code = resp.status.code, "answering the far end's challenge to our INVITE");
        true
    }

    /// The ACK for a 2xx to our INVITE or re-INVITE (§13.2.2.4): a request of its
    /// own, kept to answer retransmissions of the 2xx.
    fn send_ack(&mut self, id: LegId, cseq: u32) {
        let Some(ack) = self.in_dialog_request(id, Method::Ack, Some(cseq)) else {
            return;
        };
        let bytes = ack.to_bytes();
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        leg.ack = Some(bytes.clone());
        let peer = leg.peer;
        self.send_raw(peer, bytes);
    }

    /// A transaction of ours ended without a final response (Timer B or F).
    pub(in crate::sip::core) fn on_tx_event(&mut self, ev: TxEvent) {
        let TxEvent::Timeout { tx } = ev else {
            if let TxEvent::Terminated { tx } = ev {
                self.legs.by_tx.remove(&tx);
            }
            return;
        };
        let Some((id, purpose)) = self.legs.by_tx.remove(&tx) else {
            return;
        };
        if purpose == Purpose::Invite {
            let cancelling = self
                .legs
                .get(id)
                .is_some_and(|l| l.phase == Phase::Cancelling);
            if cancelling {
                self.legs.remove(id);
            } else if self.legs.get(id).is_some_and(|l| l.phase == Phase::Early) {
                self.end_leg(id, LegEnd::Timeout);
            }
        }
    }
}

/// A name-addr without its `;tag=` (the To of a request sent again after a
/// challenge: the 401/407 came with a tag of a dialog that never formed).
fn remove_tag(name_addr: &str) -> String {
    match name_addr.find(";tag=") {
        Some(i) => name_addr[..i].to_string(),
        None => name_addr.to_string(),
    }
}

/// The reason phrase we send with a final status from a hangup cause.
fn status_phrase(code: u16) -> &'static str {
    match code {
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        484 => "Address Incomplete",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "Call Failed",
    }
}
