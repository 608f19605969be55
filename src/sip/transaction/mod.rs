//! The SIP transaction layer, RFC 3261 §17, sans-IO.
//!
//! Requests, responses and `now` go in; messages to send (`poll_transmit`), events for
//! the transaction user (`poll_event`) and the next deadline (`poll_timeout`) come out.
//! Four machines (`server.rs`, `client.rs`) share one table and one timer heap:
//!
//! * timers live in a binary heap with lazy deletion: each entry carries the
//!   transaction's generation at scheduling time, and a state change bumps the
//!   generation, so stale timers are skipped when popped instead of searched for;
//! * the table is bounded (`max_transactions`): when full, completed non-INVITE server
//!   transactions — which only exist to absorb retransmissions — are evicted oldest
//!   first; if none is left the request is `Overloaded` (the TU answers 503).

mod client;
mod key;
mod server;
#[cfg(test)]
mod tests;

use crate::sip::wire::{Message, Request};
use key::TxKey;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Timer values (RFC 3261 §17.1.1.1, table 4) and the table bound.
#[derive(Debug, Clone)]
pub struct TxConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub max_transactions: usize,
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            max_transactions: 8_192,
        }
    }
}

/// Identifies a transaction for its whole life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TxId(u64);

/// Unreliable transports get retransmission timers; reliable ones do not.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TransportKind {
    Udp,
    Tcp,
}

/// The far end of a transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: TransportKind,
}

/// A message to send, already serialised (a retransmission re-sends the same bytes).
#[derive(Debug, Clone)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// What became of a request handed to `on_request`.
#[derive(Debug)]
pub enum Incoming {
    /// A new server transaction: the TU must answer it with `respond`.
    New { tx: TxId, request: Request },
    /// A retransmission absorbed (its last response, if any, is queued again).
    Absorbed,
    /// ACK for a 2xx (end-to-end, no transaction): for the dialog layer.
    AckFor2xx { request: Request },
    /// The table is full: the TU should answer 503 statelessly.
    Overloaded { request: Request },
}

/// What the TU learns besides responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// Timer B/F (no final response) or H (no ACK) fired.
    Timeout {
        tx: TxId,
    },
    Terminated {
        tx: TxId,
    },
}

/// Counters for `status`.
#[derive(Debug, Clone, Default)]
pub struct TxStats {
    pub server: usize,
    pub client: usize,
    pub absorbed: u64,
    pub retransmits_sent: u64,
    pub timeouts: u64,
    pub overloaded: u64,
    pub evicted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the RFC's own names
enum Kind {
    ServerInvite,
    ServerNonInvite,
    ClientInvite,
    ClientNonInvite,
}

/// States of §17 (plus RFC 6026's Accepted for client INVITE after a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// A (client INVITE), E (client non-INVITE), G (server INVITE): retransmit.
    Retransmit,
    /// B, F, H: give up.
    Timeout,
    /// D, I, J, K, and Accepted's end: forget the transaction.
    Linger,
}

struct Tx {
    kind: Kind,
    state: State,
    peer: Peer,
    key: TxKey,
    /// Client: the request, for retransmissions and the ACK.
    request: Option<Request>,
    /// Server: the last response sent, serialised, for retransmissions (bytes, not the
    /// parsed form: a completed transaction lingers 32 s and thousands may be held).
    last_response: Option<Vec<u8>>,
    /// Client: the ACK sent for a non-2xx final, re-sent on retransmitted finals.
    ack: Option<Request>,
    interval: Duration,
    generation: u32,
}

/// The transaction table.
pub struct TransactionLayer {
    config: TxConfig,
    next_id: u64,
    txs: HashMap<TxId, Tx>,
    by_key: HashMap<TxKey, TxId>,
    timers: BinaryHeap<Reverse<(Instant, TxId, Timer, u32)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    /// Completed non-INVITE server transactions in completion order: eviction victims.
    completed: VecDeque<TxId>,
    stats: TxStats,
}

impl TransactionLayer {
    pub fn new(config: TxConfig) -> Self {
        TransactionLayer {
            config,
            next_id: 1,
            txs: HashMap::new(),
            by_key: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            completed: VecDeque::new(),
            stats: TxStats::default(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id, timer, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = self
                .txs
                .get(&id)
                .is_some_and(|tx| tx.generation == generation);
            if live {
                self.fire(id, timer, now);
            }
        }
        self.shrink_after_burst();
    }

    /// Hands memory back once a burst has drained: maps and queues otherwise keep their
    /// peak capacity for good (measured: half a MiB kept after 1000 phones registered at
    /// once, tens of MiB after a load test). Shrinks only below a quarter full, to half
    /// full, so steady traffic never pays for it.
    fn shrink_after_burst(&mut self) {
        fn sparse(len: usize, capacity: usize) -> bool {
            capacity > 64 && len < capacity / 4
        }
        if sparse(self.txs.len(), self.txs.capacity()) {
            self.txs.shrink_to(self.txs.len() * 2);
        }
        if sparse(self.by_key.len(), self.by_key.capacity()) {
            self.by_key.shrink_to(self.by_key.len() * 2);
        }
        if sparse(self.timers.len(), self.timers.capacity()) {
            self.timers.shrink_to(self.timers.len() * 2);
        }
        if sparse(self.completed.len(), self.completed.capacity()) {
            self.completed.shrink_to(self.completed.len() * 2);
        }
    }

    /// The earliest deadline (possibly of a timer that turns out stale: harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, ..))| *at)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    pub fn stats(&self) -> TxStats {
        let mut s = self.stats.clone();
        s.server = self
            .txs
            .values()
            .filter(|t| matches!(t.kind, Kind::ServerInvite | Kind::ServerNonInvite))
            .count();
        s.client = self.txs.len() - s.server;
        s
    }

    fn fire(&mut self, id: TxId, timer: Timer, now: Instant) {
        match timer {
            Timer::Retransmit => self.retransmit(id, now),
            Timer::Timeout => {
                self.stats.timeouts += 1;
                self.events.push_back(TxEvent::Timeout { tx: id });
                self.remove(id);
            }
            Timer::Linger => self.remove(id),
        }
    }

    fn retransmit(&mut self, id: TxId, now: Instant) {
        let t2 = self.config.t2;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let bytes = match tx.kind {
            Kind::ServerInvite => tx.last_response.clone(),
            Kind::ClientInvite | Kind::ClientNonInvite => {
                tx.request.as_ref().map(Request::to_bytes)
            }
            Kind::ServerNonInvite => None,
        };
        let Some(bytes) = bytes else {
            return;
        };
        // Timer A doubles without bound (Timer B ends it); E and G are capped at T2.
        tx.interval = match tx.kind {
            Kind::ClientInvite => tx.interval * 2,
            Kind::ClientNonInvite if tx.state == State::Proceeding => t2,
            _ => (tx.interval * 2).min(t2),
        };
        let (peer, interval, generation) = (tx.peer, tx.interval, tx.generation);
        self.stats.retransmits_sent += 1;
        self.transmits.push_back(Transmit { peer, bytes });
        self.schedule(now + interval, id, Timer::Retransmit, generation);
    }

    fn schedule(&mut self, at: Instant, id: TxId, timer: Timer, generation: u32) {
        self.timers.push(Reverse((at, id, timer, generation)));
    }

    /// Moves a transaction to `state`, invalidating its pending timers.
    fn enter(&mut self, id: TxId, state: State) -> Option<u32> {
        let tx = self.txs.get_mut(&id)?;
        tx.state = state;
        tx.generation = tx.generation.wrapping_add(1);
        Some(tx.generation)
    }

    fn insert(&mut self, kind: Kind, state: State, peer: Peer, key: TxKey) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        self.by_key.insert(key.clone(), id);
        self.txs.insert(
            id,
            Tx {
                kind,
                state,
                peer,
                key,
                request: None,
                last_response: None,
                ack: None,
                interval: self.config.t1,
                generation: 0,
            },
        );
        id
    }

    fn remove(&mut self, id: TxId) {
        if let Some(tx) = self.txs.remove(&id) {
            if self.by_key.get(&tx.key) == Some(&id) {
                self.by_key.remove(&tx.key);
            }
            if matches!(
                tx.kind,
                Kind::ServerInvite | Kind::ClientInvite | Kind::ClientNonInvite
            ) {
                self.events.push_back(TxEvent::Terminated { tx: id });
            }
        }
        while let Some(front) = self.completed.front() {
            if self.txs.contains_key(front) {
                break;
            }
            self.completed.pop_front();
        }
    }

    /// Makes room for one more transaction; false when the table is full of live ones.
    fn make_room(&mut self) -> bool {
        while self.txs.len() >= self.config.max_transactions {
            let Some(victim) = self.completed.pop_front() else {
                return false;
            };
            let evictable = self
                .txs
                .get(&victim)
                .is_some_and(|t| t.kind == Kind::ServerNonInvite && t.state == State::Completed);
            if evictable {
                self.stats.evicted += 1;
                self.remove(victim);
            }
        }
        true
    }

    fn reliable(&self, id: TxId) -> bool {
        self.txs
            .get(&id)
            .is_some_and(|t| t.peer.transport == TransportKind::Tcp)
    }

    fn send(&mut self, peer: Peer, message: &Message) {
        self.send_bytes(peer, message.to_bytes());
    }

    fn send_bytes(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    fn linger_for(&self, reliable: bool, unreliable: Duration) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            unreliable
        }
    }
}
