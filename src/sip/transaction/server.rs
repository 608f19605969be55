//! Server transactions (§17.2): INVITE and non-INVITE.

use super::key::TxKey;
use super::{Incoming, Kind, Peer, State, Timer, TransactionLayer, TxId};
use crate::sip::wire::{Method, Request, Response, Via};
use std::time::Instant;

impl TransactionLayer {
    /// A request from the network.
    pub fn on_request(&mut self, request: Request, peer: Peer, now: Instant) -> Incoming {
        let via = request.headers.top_via().ok();
        self.on_checked_request(request, via.as_ref(), peer, now)
    }

    /// [`on_request`](Self::on_request) for a request whose top Via the caller has
    /// already parsed (the core's mandatory-header check): not parsed again.
    pub fn on_checked_request(
        &mut self,
        request: Request,
        top_via: Option<&Via>,
        peer: Peer,
        now: Instant,
    ) -> Incoming {
        let Some(key) = top_via.and_then(|via| TxKey::server(&request, via, None)) else {
            // Unmatchable (no usable Via): the core's mandatory-header check stops these
            // earlier; treat as new without absorption.
            return self.new_server(request, peer, now, None);
        };
        if let Some(&id) = self.by_key.get(&key) {
            return self.matched(id, request, now);
        }
        if request.method == Method::Ack {
            return Incoming::AckFor2xx { request };
        }
        self.new_server(request, peer, now, Some(key))
    }

    fn matched(&mut self, id: TxId, request: Request, now: Instant) -> Incoming {
        let Some(tx) = self.txs.get(&id) else {
            return Incoming::Absorbed;
        };
        let (kind, state, peer) = (tx.kind, tx.state, tx.peer);
        if request.method == Method::Ack {
            if kind == Kind::ServerInvite && state == State::Accepted {
                // An ACK for our 2xx that reuses the INVITE's branch (RFC 2543 style):
                // it is the dialog's, not ours.
                return Incoming::AckFor2xx { request };
            }
            if kind == Kind::ServerInvite && state == State::Completed {
                if let Some(generation) = self.enter(id, State::Confirmed) {
                    let linger = self.linger_for(self.reliable(id), self.config.t4);
                    self.schedule(now + linger, id, Timer::Linger, generation);
                }
            }
            self.stats.absorbed += 1;
            return Incoming::Absorbed;
        }
        self.stats.absorbed += 1;
        if kind == Kind::ServerInvite && state == State::Accepted {
            // A retransmitted INVITE after our 2xx: nothing to send (not even a 100).
            return Incoming::Absorbed;
        }
        let resend = match (kind, state) {
            (Kind::ServerInvite, State::Proceeding | State::Completed)
            | (Kind::ServerNonInvite, State::Proceeding | State::Completed) => {
                self.txs.get(&id).and_then(|t| t.last_response.clone())
            }
            _ => None,
        };
        if let Some(bytes) = resend {
            self.stats.retransmits_sent += 1;
            self.send_bytes(peer, bytes);
        }
        Incoming::Absorbed
    }

    fn new_server(
        &mut self,
        request: Request,
        peer: Peer,
        _now: Instant,
        key: Option<TxKey>,
    ) -> Incoming {
        if !self.make_room() {
            self.stats.overloaded += 1;
            return Incoming::Overloaded { request };
        }
        let key = key.unwrap_or_else(|| TxKey::unmatchable(self.next_id));
        let invite = request.method == Method::Invite;
        let (kind, state) = if invite {
            (Kind::ServerInvite, State::Proceeding)
        } else {
            (Kind::ServerNonInvite, State::Trying)
        };
        let id = self.insert(kind, state, peer, key);
        if invite {
            // §17.2.1: answer at once so the client stops retransmitting.
            let trying = Response::to_request(&request, 100, "Trying").to_bytes();
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.last_response = Some(trying.clone());
            }
            self.send_bytes(peer, trying);
        }
        Incoming::New { tx: id, request }
    }

    /// The TU's response on server transaction `tx`.
    pub fn respond(&mut self, tx: TxId, response: Response, now: Instant) {
        let Some(t) = self.txs.get_mut(&tx) else {
            tracing::debug!(?tx, "response for a transaction that is gone");
            return;
        };
        let (kind, peer) = (t.kind, t.peer);
        let code = response.status.code;
        let bytes = response.to_bytes();
        if !matches!(t.state, State::Trying | State::Proceeding) {
            tracing::debug!(?tx, code, "response after the final one: ignored");
            return;
        }
        match kind {
            Kind::ServerInvite => {
                if code < 200 {
                    t.last_response = Some(bytes.clone());
                    self.send_bytes(peer, bytes);
                } else if code < 300 {
                    // RFC 6026 §7.1: Accepted, absorbing retransmitted INVITEs (the TU
                    // re-sends the 2xx itself) until Timer L.
                    self.send_bytes(peer, bytes);
                    if let Some(generation) = self.enter(tx, State::Accepted) {
                        self.schedule(now + self.config.t1 * 64, tx, Timer::Linger, generation);
                    }
                } else {
                    t.last_response = Some(bytes.clone());
                    self.send_bytes(peer, bytes);
                    let reliable = self.reliable(tx);
                    if let Some(generation) = self.enter(tx, State::Completed) {
                        if !reliable {
                            let t1 = self.config.t1;
                            if let Some(t) = self.txs.get_mut(&tx) {
                                t.interval = t1;
                            }
                            self.schedule(now + t1, tx, Timer::Retransmit, generation);
                        }
                        self.schedule(now + self.config.t1 * 64, tx, Timer::Timeout, generation);
                    }
                }
            }
            Kind::ServerNonInvite => {
                t.last_response = Some(bytes.clone());
                self.send_bytes(peer, bytes);
                if code < 200 {
                    self.enter(tx, State::Proceeding);
                } else {
                    let reliable = self.reliable(tx);
                    if reliable {
                        self.remove(tx);
                    } else if let Some(generation) = self.enter(tx, State::Completed) {
                        self.completed.push_back(tx);
                        self.schedule(now + self.config.t1 * 64, tx, Timer::Linger, generation);
                    }
                }
            }
            Kind::ClientInvite | Kind::ClientNonInvite => {
                tracing::debug!(?tx, "respond() on a client transaction: ignored");
            }
        }
    }

    /// Drops a server transaction without answering it (a duplicate the TU answered
    /// another way).
    pub fn forget(&mut self, tx: TxId) {
        self.remove(tx);
    }

    /// The INVITE server transaction a CANCEL targets (§9.2).
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        let via = cancel.headers.top_via().ok()?;
        let key = TxKey::server(cancel, &via, Some(&Method::Invite))?;
        let id = *self.by_key.get(&key)?;
        self.txs
            .get(&id)
            .filter(|t| t.kind == Kind::ServerInvite)
            .map(|_| id)
    }
}
