//! INVITE dialogs inside the core: the leg table, the requests a dialog sends
//! (ACK, BYE, CANCEL, re-INVITE), and the per-leg timer (2xx retransmission until the
//! ACK comes, RFC 3261 §13.3.1.4). `uas.rs` handles what phones send us, `uac.rs` the
//! calls we place and the answers to our requests.
//!
//! Every in-dialog request goes to the address the dialog was set up with (the
//! INVITE's source, or the binding's), not to the Contact's host: phones behind NAT
//! put a private address there, and FreeSWITCH's NDLB habits show that is the norm.

mod dtmf;
mod uac;
mod uas;

use super::SipCore;
use crate::sip::dialog::{CallEvent, LegId};
use crate::sip::transaction::{Peer, TransportKind, TxId};
use crate::sip::wire::{Method, Request, Response, Uri};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Methods a phone may send us now that calls exist.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, REGISTER";

/// At most this many legs at once (the switch's `max-sessions` bounds calls first).
const MAX_LEGS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The phone called us.
    Uas,
    /// We called the phone.
    Uac,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// INVITE sent or received, no final answer yet.
    Early,
    /// 2xx given or received.
    Answered,
    /// We asked to end an unanswered outbound leg (CANCEL sent or due): kept until the
    /// INVITE's final response, to ACK and BYE a 200 that crosses the CANCEL.
    Cancelling,
}

/// What a client transaction of ours was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    Invite,
    Reinvite,
    Bye,
    Cancel,
    /// DTMF relayed to the peer; its answer changes nothing.
    Info,
}

/// A 2xx to an INVITE, re-sent until its ACK arrives.
#[derive(Debug)]
pub(super) struct PendingOk {
    bytes: Vec<u8>,
    interval: Duration,
    give_up: Instant,
    cseq: u32,
}

#[derive(Debug)]
pub(super) struct Leg {
    pub role: Role,
    pub phase: Phase,
    pub call_id: String,
    pub local_tag: String,
    /// Our side as a name-addr, without tag (From for a UAC leg, To for a UAS leg).
    pub local: String,
    /// The far side's name-addr as it will appear in our requests, tag included once
    /// known.
    pub remote: String,
    pub remote_tag: Option<String>,
    /// The peer's Contact URI: Request-URI of our in-dialog requests.
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub peer: Peer,
    /// UAS: the INVITE we answer; UAC: the INVITE we sent (for CANCEL).
    pub invite: Request,
    pub invite_tx: Option<TxId>,
    pub ok: Option<PendingOk>,
    /// UAC: the ACK for the INVITE's 2xx, re-sent on a retransmitted 2xx.
    pub ack: Option<Vec<u8>>,
    pub provisional: bool,
    /// A re-INVITE or UPDATE from the peer waiting for the switch's answer.
    pub reoffer: Option<(TxId, Request)>,
    pub session_expires: Option<u32>,
    pub timer: Option<Instant>,
    /// UAC toward a carrier: what answers its challenge, and the nonce answered
    /// (a second challenge for it means the credentials are wrong).
    pub login: Option<crate::sip::dialog::Login>,
    pub answered_nonce: Option<String>,
}

/// The legs of one profile, found by id, by dialog and by our transactions.
#[derive(Default)]
pub(super) struct Legs {
    /// The profile's index, stamped into every leg id.
    profile: u16,
    next: u64,
    by_id: HashMap<LegId, Leg>,
    by_dialog: HashMap<(String, String), LegId>,
    by_tx: HashMap<TxId, (LegId, Purpose)>,
    timers: BTreeSet<(Instant, LegId)>,
}

impl Legs {
    pub fn new(profile: u16) -> Legs {
        Legs {
            profile,
            ..Legs::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    fn insert(&mut self, leg: Leg) -> Option<LegId> {
        if self.by_id.len() >= MAX_LEGS {
            return None;
        }
        self.next += 1;
        let id = LegId::new(self.profile, self.next);
        self.by_dialog
            .insert((leg.call_id.clone(), leg.local_tag.clone()), id);
        self.by_id.insert(id, leg);
        Some(id)
    }

    fn get_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.by_id.get_mut(&id)
    }

    fn get(&self, id: LegId) -> Option<&Leg> {
        self.by_id.get(&id)
    }

    fn find(&self, call_id: &str, local_tag: &str) -> Option<LegId> {
        self.by_dialog
            .get(&(call_id.to_string(), local_tag.to_string()))
            .copied()
    }

    /// The UAS leg an INVITE without To tag belongs to: a retransmission that arrives
    /// after our 2xx ended its transaction.
    fn find_uas_by_remote(&self, call_id: &str, remote_tag: &str) -> Option<LegId> {
        self.by_id
            .iter()
            .find(|(_, l)| {
                l.role == Role::Uas
                    && l.call_id == call_id
                    && l.remote_tag.as_deref() == Some(remote_tag)
            })
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: LegId) -> Option<Leg> {
        let leg = self.by_id.remove(&id)?;
        self.by_dialog
            .remove(&(leg.call_id.clone(), leg.local_tag.clone()));
        if let Some(at) = leg.timer {
            self.timers.remove(&(at, id));
        }
        Some(leg)
    }

    fn set_timer(&mut self, id: LegId, at: Option<Instant>) {
        let Some(leg) = self.by_id.get_mut(&id) else {
            return;
        };
        if let Some(old) = leg.timer.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(at) = at {
            leg.timer = Some(at);
            self.timers.insert((at, id));
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }
}

impl SipCore {
    pub fn poll_call_event(&mut self) -> Option<CallEvent> {
        self.drain_transactions();
        self.call_events.pop_front()
    }

    /// Calls in progress on this profile (legs, inbound and outbound).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Leg timers due at `now`: 2xx retransmissions, and giving up on a missing ACK.
    pub(super) fn handle_leg_timers(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.legs.timers.first() {
            if at > now {
                break;
            }
            self.legs.timers.remove(&(at, id));
            if let Some(leg) = self.legs.get_mut(id) {
                leg.timer = None;
            }
            self.retransmit_ok(id, now);
        }
    }

    fn retransmit_ok(&mut self, id: LegId, now: Instant) {
        let t2 = self.config.tx.t2;
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let Some(ok) = leg.ok.as_mut() else {
            return;
        };
        if now >= ok.give_up {
            // §13.3.1.4: no ACK in 64*T1: confirm and end the session.
            leg.ok = None;
            tracing::info!(call_id = %leg.call_id, peer = %leg.peer.addr, "no ACK for our 200 OK: hanging up");
            self.send_bye(id, None, now);
            self.end_leg(id, crate::sip::dialog::LegEnd::Timeout);
            return;
        }
        let bytes = ok.bytes.clone();
        ok.interval = (ok.interval * 2).min(t2);
        let next = now + ok.interval;
        let peer = leg.peer;
        self.send_raw(peer, bytes);
        self.legs.set_timer(id, Some(next));
    }

    /// Starts re-sending a 2xx until its ACK (unreliable transports only).
    fn await_ack(&mut self, id: LegId, bytes: Vec<u8>, cseq: u32, now: Instant) {
        let t1 = self.config.tx.t1;
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let reliable = leg.peer.transport == TransportKind::Tcp;
        leg.ok = Some(PendingOk {
            bytes,
            interval: t1,
            give_up: now + t1 * 64,
            cseq,
        });
        let at = if reliable { now + t1 * 64 } else { now + t1 };
        self.legs.set_timer(id, Some(at));
    }

    /// An event for the switch, and the leg forgotten.
    fn end_leg(&mut self, id: LegId, end: crate::sip::dialog::LegEnd) {
        if self.legs.remove(id).is_some() {
            self.call_events
                .push_back(CallEvent::Ended { leg: id, end });
        }
    }

    fn send_raw(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.stats.sent += 1;
        self.transmits.push_back(super::Datagram { peer, bytes });
    }

    /// A new `z9hG4bK` branch.
    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.tags.next())
    }

    /// Our Via toward `peer` (its host per [`SipCore::host_for`]).
    fn via(&mut self, peer: Peer) -> String {
        let t = match peer.transport {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        };
        let branch = self.branch();
        format!(
            "SIP/2.0/{t} {};branch={branch};rport",
            self.host_for(peer.addr.ip())
        )
    }

    /// Our Contact toward `peer`.
    fn contact(&self, user: &str, peer: Peer) -> String {
        let user = if user.is_empty() { "loopstart" } else { user };
        format!("<sip:{user}@{}>", self.host_for(peer.addr.ip()))
    }

    /// A request inside leg `id`'s dialog (BYE, ACK, re-INVITE), with the next CSeq
    /// unless `cseq` is given (ACK reuses the INVITE's).
    fn in_dialog_request(
        &mut self,
        id: LegId,
        method: Method,
        cseq: Option<u32>,
    ) -> Option<Request> {
        let peer = self.legs.get(id)?.peer;
        let via = self.via(peer);
        let ua = self.config.user_agent.clone();
        let leg = self.legs.get_mut(id)?;
        let seq = match cseq {
            Some(s) => s,
            None => {
                leg.local_cseq += 1;
                leg.local_cseq
            }
        };
        let uri = Uri::parse(&leg.remote_target)
            .or_else(|_| Uri::parse(&leg.invite.uri.to_string()))
            .ok()?;
        let mut req = Request {
            method: method.clone(),
            uri,
            headers: Default::default(),
            body: Vec::new(),
        };
        req.headers.push("Via", via);
        for r in &leg.route_set {
            req.headers.push("Route", r);
        }
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("From", format!("{};tag={}", leg.local, leg.local_tag));
        req.headers.push("To", leg.remote.as_str());
        req.headers.push("Call-ID", leg.call_id.as_str());
        req.headers
            .push("CSeq", format!("{seq} {}", method.as_str()));
        req.headers.push("User-Agent", ua);
        Some(req)
    }

    /// BYE on an answered leg, as a client transaction; the leg's answer to it does
    /// not matter (the call is over for us either way).
    fn send_bye(&mut self, id: LegId, reason: Option<&str>, now: Instant) {
        let Some(mut bye) = self.in_dialog_request(id, Method::Bye, None) else {
            return;
        };
        if let Some(r) = reason {
            bye.headers.push("Reason", r);
        }
        let Some(peer) = self.legs.get(id).map(|l| l.peer) else {
            return;
        };
        let tx = self.transactions.send_request(bye, peer, now);
        self.legs.by_tx.insert(tx, (id, Purpose::Bye));
    }

    /// A response to a request on one of our UAS transactions, with our tag, Contact
    /// and identity.
    fn leg_response(&self, id: LegId, req: &Request, code: u16, reason: &str) -> Response {
        let mut resp = Response::to_request(req, code, reason);
        if let Some(leg) = self.legs.get(id) {
            if code > 100 {
                resp.set_to_tag(&leg.local_tag);
            }
            if (101..300).contains(&code) && req.method == Method::Invite {
                // RFC 3261 §12.1.1: the route set goes back in every response that
                // makes or confirms the dialog, or a proxy's ACK and BYE find no way.
                for rr in req.headers.get_all("Record-Route") {
                    resp.headers.push("Record-Route", rr);
                }
                let user = Uri::parse(&leg.local)
                    .ok()
                    .or_else(|| {
                        crate::sip::wire::NameAddr::parse(&leg.local)
                            .ok()
                            .map(|n| n.uri)
                    })
                    .and_then(|u| u.user)
                    .unwrap_or_default();
                resp.headers.push("Contact", self.contact(&user, leg.peer));
            }
        }
        resp.headers.push("Server", self.config.user_agent.as_str());
        resp
    }
}

/// The user part of a name-addr (`"Bob" <sip:1002@host>` → `1002`).
fn local_user(name_addr: &str) -> String {
    crate::sip::wire::NameAddr::parse(name_addr)
        .ok()
        .and_then(|n| n.uri.user)
        .unwrap_or_default()
}

/// `application/sdp` body of a message, parsed; None when it has none.
fn sdp_body(
    headers: &crate::sip::wire::Headers,
    body: &[u8],
) -> Option<Result<crate::sip::sdp::Sdp, String>> {
    if body.is_empty() {
        return None;
    }
    let is_sdp = headers
        .get("Content-Type")
        .map(|t| t.trim().to_ascii_lowercase().starts_with("application/sdp"))
        .unwrap_or(true);
    if !is_sdp {
        return None;
    }
    Some(match std::str::from_utf8(body) {
        Ok(text) => crate::sip::sdp::Sdp::parse(text).map_err(|e| e.to_string()),
        Err(_) => Err("SDP body is not UTF-8".to_string()),
    })
}

/// A Contact's URI as text (None for `*`).
fn contact_uri(c: &crate::sip::wire::Contact) -> Option<String> {
    match c {
        crate::sip::wire::Contact::Addr(a) => Some(a.uri.to_string()),
        crate::sip::wire::Contact::Star => None,
    }
}

fn set_sdp(
    headers: &mut crate::sip::wire::Headers,
    body: &mut Vec<u8>,
    sdp: &crate::sip::sdp::Sdp,
) {
    *body = sdp.to_string().into_bytes();
    headers.push("Content-Type", "application/sdp");
}

#[cfg(test)]
mod tests;
