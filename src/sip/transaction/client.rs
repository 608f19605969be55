//! Client transactions (§17.1): INVITE and non-INVITE.

use super::key::TxKey;
use super::{Kind, Peer, State, Timer, TransactionLayer, TransportKind, TxId};
use crate::sip::wire::{Message, Method, Request, Response};
use std::time::Instant;

impl TransactionLayer {
    /// Starts a client transaction; the caller already set the top Via with a
    /// `z9hG4bK` branch.
    pub fn send_request(&mut self, request: Request, peer: Peer, now: Instant) -> TxId {
        let invite = request.method == Method::Invite;
        let key =
            TxKey::client_for_request(&request).unwrap_or_else(|| TxKey::unmatchable(self.next_id));
        let (kind, state) = if invite {
            (Kind::ClientInvite, State::Calling)
        } else {
            (Kind::ClientNonInvite, State::Trying)
        };
        let id = self.insert(kind, state, peer, key);
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.request = Some(request.clone());
        }
        self.send(peer, &Message::Request(request));
        if peer.transport == TransportKind::Udp {
            self.schedule(now + self.config.t1, id, Timer::Retransmit, 0);
        }
        self.schedule(now + self.config.t1 * 64, id, Timer::Timeout, 0);
        id
    }

    /// A response from the network: Some when the TU should see it.
    pub fn on_response(&mut self, response: Response, now: Instant) -> Option<(TxId, Response)> {
        let key = TxKey::client_for_response(&response)?;
        let id = *self.by_key.get(&key)?;
        let tx = self.txs.get(&id)?;
        let (kind, state, peer) = (tx.kind, tx.state, tx.peer);
        let code = response.status.code;
        let reliable = peer.transport == TransportKind::Tcp;
        match kind {
            Kind::ClientInvite => match state {
                State::Calling | State::Proceeding => {
                    if code < 200 {
                        if state == State::Calling {
                            // No more retransmissions, and Timer B no longer applies.
                            self.enter(id, State::Proceeding);
                        }
                    } else if code < 300 {
                        // RFC 6026: linger to pass 2xx retransmissions to the TU.
                        if let Some(g) = self.enter(id, State::Accepted) {
                            self.schedule(now + self.config.t1 * 64, id, Timer::Linger, g);
                        }
                    } else {
                        let ack = self.ack_for(id, &response);
                        if let Some(ack) = &ack {
                            self.send(peer, &Message::Request(ack.clone()));
                        }
                        if let Some(t) = self.txs.get_mut(&id) {
                            t.ack = ack;
                        }
                        if let Some(g) = self.enter(id, State::Completed) {
                            let d = self.linger_for(reliable, std::time::Duration::from_secs(32));
                            self.schedule(now + d, id, Timer::Linger, g);
                        }
                    }
                    Some((id, response))
                }
                State::Accepted if (200..300).contains(&code) => Some((id, response)),
                State::Completed if code >= 300 => {
                    if let Some(ack) = self.txs.get(&id).and_then(|t| t.ack.clone()) {
                        self.stats.retransmits_sent += 1;
                        self.send(peer, &Message::Request(ack));
                    }
                    self.stats.absorbed += 1;
                    None
                }
                _ => None,
            },
            Kind::ClientNonInvite => match state {
                State::Trying | State::Proceeding => {
                    if code < 200 {
                        if state == State::Trying {
                            // Keep retransmitting, now every T2 (§17.1.2.2); keep Timer F.
                            if let Some(t) = self.txs.get_mut(&id) {
                                t.state = State::Proceeding;
                            }
                        }
                    } else if let Some(g) = self.enter(id, State::Completed) {
                        let k = self.linger_for(reliable, self.config.t4);
                        self.schedule(now + k, id, Timer::Linger, g);
                    }
                    Some((id, response))
                }
                _ => {
                    self.stats.absorbed += 1;
                    None
                }
            },
            _ => None,
        }
    }

    /// §17.1.1.3: the ACK a client INVITE transaction sends for a non-2xx final.
    fn ack_for(&self, id: TxId, response: &Response) -> Option<Request> {
        let invite = self.txs.get(&id)?.request.as_ref()?;
        let mut ack = Request {
            method: Method::Ack,
            uri: invite.uri.clone(),
            headers: Default::default(),
            body: Vec::new(),
        };
        if let Some(via) = invite.headers.get_all("Via").first() {
            ack.headers.push("Via", via);
        }
        for route in invite.headers.get_all("Route") {
            ack.headers.push("Route", route);
        }
        ack.headers.push("Max-Forwards", "70");
        if let Some(from) = invite.headers.get("From") {
            ack.headers.push("From", from);
        }
        if let Some(to) = response.headers.get("To") {
            ack.headers.push("To", to);
        }
        if let Some(call_id) = invite.headers.get("Call-ID") {
            ack.headers.push("Call-ID", call_id);
        }
        let seq = invite.headers.cseq().ok()?.seq;
        ack.headers.push("CSeq", format!("{seq} ACK"));
        Some(ack)
    }
}
