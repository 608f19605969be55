//! The SIP core of one profile, sans-IO: bytes and `now` in; datagrams to send, store
//! changes and the next wake-up out.
//!
//! It owns the transaction layer, the registrar, the nonce manager and the directory,
//! and dispatches requests by method. The tokio driver in `crate::app` feeds it what the
//! transports read and sends what it returns; nothing here touches a socket or a clock,
//! so a test can push a thousand REGISTERs through it with a virtual clock.

mod calls;
mod directory;
mod gateways;
mod register;
mod stats;
mod tags;

pub use directory::{Directory, Secrets};
pub use gateways::{Gateway, GatewayCounts, GatewaySetup};
pub use stats::CoreStats;

use crate::sip::auth::{Algorithm, NonceManager};
use crate::sip::registrar::{Registrar, RegistrarPolicy};
use crate::sip::transaction::{
    Incoming, Peer, TransactionLayer, TransportKind, TxConfig, TxEvent, TxId,
};
use crate::sip::wire::{
    self, parse_message, Essentials, Framing, Host, Limits, Message, Method, Request, Response,
};
use crate::store::{Binding, Durability};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tags::TagGen;

/// Nonce-counts remembered for replay protection. A nonce evicted early is answered
/// `stale=true` (one extra round trip for that phone), never accepted twice.
const NONCE_COUNTS: usize = 16_384;

/// Methods this core answers; everything else gets 405 with this list.
pub use calls::ALLOW;

/// What the core needs from the profile's configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub profile: String,
    /// This profile's place among the box's profiles: stamped into its legs' ids so
    /// one switch can drive every profile's calls.
    pub index: u16,
    /// `ip:port` this profile is reached at (shown in `sofia status`).
    pub contact_host: String,
    /// Behind NAT (`ext-sip-ip`): what peers outside the local network must see.
    pub nat: Option<NatHost>,
    /// Addresses that mean "this box" in a Request-URI or To host, besides the domain.
    pub local_hosts: Vec<String>,
    pub limits: Limits,
    pub tx: TxConfig,
    pub registrar: RegistrarPolicy,
    pub nonce_ttl: Duration,
    /// Challenge algorithms, strongest first (RFC 8760 §2.4: one challenge each).
    pub algorithms: Vec<Algorithm>,
    /// `accept-blind-reg`: register without authentication (lab use only).
    pub accept_blind_reg: bool,
    /// `auth-calls`: challenge every new INVITE (407) not otherwise trusted.
    pub auth_calls: bool,
    /// `apply-inbound-acl`: sources whose INVITEs are taken without a challenge.
    /// With auth-calls off, only these and the profile's gateways may call in.
    pub inbound_acl: Option<AddressCheck>,
    /// `apply-register-acl`: only these sources may register (all lists must allow).
    pub register_acl: Option<AddressCheck>,
    /// The guard's look at each request before the core acts on it.
    pub screen: Option<RequestScreen>,
    pub user_agent: String,
}

/// The profile's outside address (`ext-sip-ip` with the profile's port) and the
/// networks that are inside (`local-network-acl`): a peer inside sees `contact_host`,
/// a peer outside this address in our Via and Contact.
#[derive(Clone, Debug)]
pub struct NatHost {
    pub external: String,
    pub local_network: AddressCheck,
}

/// A yes or no on a source address: an ACL the app resolved (the core knows no ACLs).
#[derive(Clone)]
pub struct AddressCheck(pub std::sync::Arc<dyn Fn(IpAddr) -> bool + Send + Sync>);

impl AddressCheck {
    pub fn allows(&self, ip: IpAddr) -> bool {
        (self.0)(ip)
    }
}

impl std::fmt::Debug for AddressCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressCheck")
    }
}

/// A look at each well-formed request (with its mandatory headers read), and its
/// source address, before the core acts on it: `true` drops it without a reply (the guard took it for a scanner's probe and
/// banned its source). The core knows no scanners; the app decides. A retransmission
/// is looked at again (scanners do not retransmit; a phone's request says nothing).
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct RequestScreen(
    pub std::sync::Arc<dyn Fn(IpAddr, &Request, &Essentials) -> bool + Send + Sync>,
);

impl std::fmt::Debug for RequestScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestScreen")
    }
}

impl CoreConfig {
    /// `ip:port` for our Via and Contact toward `peer`: the outside address when the
    /// profile is behind NAT and the peer is not on the local network.
    pub fn host_for(&self, peer: IpAddr) -> &str {
        match &self.nat {
            Some(nat) if !nat.local_network.allows(peer) => &nat.external,
            _ => &self.contact_host,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// A change to the persisted location service, with how durable it must be before
/// the response that acknowledges it leaves: a new binding, a changed route to the
/// phone or an unregistration is `Critical` (a phone told "registered" must still be
/// reachable after a power cut); a refresh of an unchanged route and the removal of an
/// expired binding are `Lazy` (written within sled's flush interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Put(Binding, Durability),
    Delete(Vec<u8>, Durability),
}

impl StoreOp {
    pub fn durability(&self) -> Durability {
        match self {
            StoreOp::Put(_, d) | StoreOp::Delete(_, d) => *d,
        }
    }
}

/// Something the rest of the box may want to know (fail2ban, events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreNotice {
    Registered {
        aor: String,
        contact: String,
        source: String,
    },
    Unregistered {
        aor: String,
        contact: String,
        expired: bool,
    },
    /// Credentials that did not prove `user` (a failure for the guard).
    AuthFailed {
        user: String,
        source: IpAddr,
        /// REGISTER, or a request challenged as a call (INVITE, ...).
        method: Method,
        /// Whether the directory has `user` (for the guard's counts; never on the wire).
        user_known: bool,
        reason: String,
    },
    /// A request refused because of where it came from (a failure for the guard).
    Forbidden { source: IpAddr, reason: String },
    /// A gateway's registration or UP/DOWN status changed, or a monitored ping
    /// ended (`sofia::gateway_state`).
    GatewayState {
        gateway: String,
        state: crate::sip::gateway::RegState,
        status: crate::sip::keepalive::GatewayStatus,
        /// The carrier's status code (908: no answer to REGISTER, 408 to a ping).
        code: Option<u16>,
        phrase: Option<String>,
    },
}

/// The SIP core of one profile.
pub struct SipCore {
    config: CoreConfig,
    directory: Directory,
    transactions: TransactionLayer,
    registrar: Registrar,
    nonces: NonceManager,
    tags: TagGen,
    stats: CoreStats,
    transmits: VecDeque<Datagram>,
    store_ops: VecDeque<StoreOp>,
    notices: VecDeque<CoreNotice>,
    legs: calls::Legs,
    call_events: VecDeque<crate::sip::dialog::CallEvent>,
    /// BYEs whose 200 waits until the call's record is on disk (see
    /// [`SipCore::acknowledge_bye`]).
    byes: std::collections::HashMap<crate::sip::dialog::LegId, (TxId, Response)>,
    /// The last (monotonic, wall-clock) pair seen, to convert binding expiry times
    /// (wall clock, they survive restarts) into a monotonic deadline.
    clock: Option<(Instant, u64)>,
    gateways: Vec<Gateway>,
    gateway_tx: std::collections::HashMap<TxId, gateways::GatewayTx>,
}

impl SipCore {
    /// `secret` keys the nonces (32 random bytes at start); `seed` seeds tag generation.
    pub fn new(config: CoreConfig, directory: Directory, secret: [u8; 32], seed: u64) -> SipCore {
        SipCore {
            transactions: TransactionLayer::new(config.tx.clone()),
            registrar: Registrar::new(config.registrar),
            nonces: NonceManager::new(secret, config.nonce_ttl, NONCE_COUNTS),
            tags: TagGen::new(seed),
            stats: CoreStats::default(),
            transmits: VecDeque::new(),
            store_ops: VecDeque::new(),
            notices: VecDeque::new(),
            legs: calls::Legs::new(config.index),
            call_events: VecDeque::new(),
            byes: std::collections::HashMap::new(),
            clock: None,
            gateways: Vec::new(),
            gateway_tx: std::collections::HashMap::new(),
            config,
            directory,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// `ip:port` for our Via and Contact toward `peer` (see [`CoreConfig::host_for`]).
    pub fn host_for(&self, peer: IpAddr) -> &str {
        self.config.host_for(peer)
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    pub fn stats(&self) -> CoreStats {
        let mut s = self.stats.clone();
        let tx = self.transactions.stats();
        s.transactions = tx.server + tx.client;
        s.tx_absorbed = tx.absorbed;
        s.tx_overloaded = tx.overloaded;
        s.tx_evicted = tx.evicted;
        s.registrations = self.registrar.location.len();
        s
    }

    /// Loads persisted bindings; those already expired become store deletions.
    pub fn restore(&mut self, bindings: Vec<Binding>, now_unix_ms: u64) {
        for stale in self.registrar.restore(bindings, now_unix_ms) {
            self.store_ops
                .push_back(StoreOp::Delete(stale.key(), Durability::Lazy));
        }
    }

    /// One message from a transport. `bytes` is a whole datagram (UDP) or one framed
    /// message (TCP).
    pub fn handle_message(&mut self, bytes: &[u8], peer: Peer, now: Instant, now_unix_ms: u64) {
        self.clock = Some((now, now_unix_ms));
        self.stats.received += 1;
        let framing = match peer.transport {
            TransportKind::Udp => Framing::Datagram,
            TransportKind::Tcp => Framing::Stream,
        };
        match parse_message(bytes, framing, &self.config.limits) {
            Ok(Message::Request(req)) => self.handle_request(req, peer, now, now_unix_ms),
            Ok(Message::Response(resp)) => match self.transactions.on_response(resp, now) {
                Some((tx, resp)) => {
                    if !self.on_gateway_response(tx, &resp, now) {
                        self.on_leg_response(tx, resp, now);
                    }
                }
                None => self.stats.stray_responses += 1,
            },
            Err(err) => self.reject_unparseable(bytes, err, peer),
        }
        self.drain_transactions();
    }

    /// Timers: transaction retransmissions and timeouts, binding expiry.
    pub fn handle_timeout(&mut self, now: Instant, now_unix_ms: u64) {
        self.clock = Some((now, now_unix_ms));
        self.transactions.handle_timeout(now);
        self.handle_leg_timers(now);
        self.handle_gateway_timers(now);
        for gone in self.registrar.expire(now_unix_ms) {
            tracing::info!(aor = %gone.aor, contact = %gone.contact_uri, "registration expired");
            self.store_ops
                .push_back(StoreOp::Delete(gone.key(), Durability::Lazy));
            self.notices.push_back(CoreNotice::Unregistered {
                aor: gone.aor,
                contact: gone.contact_uri,
                expired: true,
            });
        }
        self.drain_transactions();
    }

    /// When `handle_timeout` should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = [
            self.transactions.poll_timeout(),
            self.legs.poll_timeout(),
            self.gateways_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let expiry = match (self.registrar.location.next_expiry(), self.clock) {
            (Some(at_ms), Some((now, now_ms))) => {
                Some(now + Duration::from_millis(at_ms.saturating_sub(now_ms)))
            }
            _ => None,
        };
        match (tx, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        // Commands (answer, hangup, invite) queue through the transaction layer.
        self.drain_transactions();
        self.transmits.pop_front()
    }

    pub fn poll_store_op(&mut self) -> Option<StoreOp> {
        self.store_ops.pop_front()
    }

    /// Whether a queued store change must be on disk before the transmits queued with
    /// it may leave (see [`StoreOp`]).
    pub fn needs_sync(&self) -> bool {
        self.store_ops
            .iter()
            .any(|op| op.durability() == Durability::Critical)
    }

    pub fn poll_notice(&mut self) -> Option<CoreNotice> {
        self.notices.pop_front()
    }

    fn handle_request(&mut self, mut req: Request, peer: Peer, now: Instant, now_unix_ms: u64) {
        let mut es = match wire::check_mandatory(&req) {
            Ok(es) => es,
            Err(err) => {
                self.stats.bad_requests += 1;
                tracing::debug!(peer = %peer.addr, error = %err, "bad request");
                if req.method != Method::Ack {
                    let resp = Response::to_request(&req, 400, &reason_phrase(&err.detail));
                    self.send_stateless(resp, peer);
                }
                return;
            }
        };
        if let Some(screen) = &self.config.screen {
            if (screen.0)(peer.addr.ip(), &req, &es) {
                self.stats.screened += 1;
                return;
            }
        }
        // Responses on this transaction go where §18.2.2 and RFC 3581 say.
        if apply_received(&mut es.top_via, peer.addr) {
            req.headers.set_top_via(&es.top_via);
        }
        let peer = via_destination(&es.top_via, peer);

        match self
            .transactions
            .on_checked_request(req, Some(&es.top_via), peer, now)
        {
            Incoming::New { tx, request } => {
                self.dispatch(tx, &request, &es, peer, now, now_unix_ms)
            }
            Incoming::Absorbed => self.stats.retransmissions += 1,
            Incoming::AckFor2xx { request } => self.on_ack(&request),
            Incoming::Overloaded { request } => {
                self.stats.overloaded += 1;
                let mut resp = Response::to_request(&request, 503, "Service Unavailable");
                resp.headers.push("Retry-After", "5");
                self.send_stateless(resp, peer);
            }
        }
    }

    fn dispatch(
        &mut self,
        tx: TxId,
        req: &Request,
        es: &Essentials,
        peer: Peer,
        now: Instant,
        now_unix_ms: u64,
    ) {
        if es.max_forwards == Some(0) && req.method != Method::Options {
            let resp = self.reply(req, es, 483, "Too Many Hops");
            self.transactions.respond(tx, resp, now);
            return;
        }
        let resp = match req.method {
            Method::Register => self.handle_register(req, es, peer, now_unix_ms),
            Method::Options => {
                let mut resp = self.reply(req, es, 200, "OK");
                resp.headers.push("Allow", ALLOW);
                resp.headers.push("Accept", "application/sdp");
                resp.headers.push("Accept-Language", "en");
                resp
            }
            Method::Invite => return self.on_invite(tx, req, es, peer, now, now_unix_ms),
            Method::Cancel | Method::Bye | Method::Update | Method::Info => {
                return self.on_dialog_request(tx, req, es, now)
            }
            _ => {
                let mut resp = self.reply(req, es, 405, "Method Not Allowed");
                resp.headers.push("Allow", ALLOW);
                resp
            }
        };
        self.transactions.respond(tx, resp, now);
    }

    /// A response with our To tag (unless the request's To already had one: a request
    /// inside a dialog) and Server header.
    fn reply(&mut self, req: &Request, es: &Essentials, code: u16, reason: &str) -> Response {
        let mut resp = Response::to_request(req, code, reason);
        if code > 100 && es.to.tag().is_none() {
            resp.push_to_tag(&self.tags.next());
        }
        resp.headers.push("Server", self.config.user_agent.as_str());
        resp
    }

    /// A message that failed to parse: 400 when enough of it was readable to address
    /// the answer, otherwise dropped (counted).
    fn reject_unparseable(&mut self, bytes: &[u8], err: wire::ParseError, peer: Peer) {
        self.stats.parse_errors += 1;
        tracing::debug!(peer = %peer.addr, error = %err, "unparseable SIP message");
        let Some(headers) = err.salvaged.as_ref() else {
            return;
        };
        // Never answer a response, nor an ACK.
        if bytes.starts_with(b"SIP/") || is_ack(headers) {
            return;
        }
        if let Some(mut resp) = Response::to_headers(headers, 400, &reason_phrase(&err.detail)) {
            let _ = stamp_received(&mut resp.headers, peer.addr);
            self.send_stateless(resp, peer);
        }
    }

    fn send_stateless(&mut self, resp: Response, peer: Peer) {
        let dest = response_destination(&resp.headers, peer);
        self.transmits.push_back(Datagram {
            peer: dest,
            bytes: resp.to_bytes(),
        });
    }

    fn drain_transactions(&mut self) {
        // Server transactions were created with their responses' destination.
        while let Some(t) = self.transactions.poll_transmit() {
            self.stats.sent += 1;
            self.transmits.push_back(Datagram {
                peer: t.peer,
                bytes: t.bytes,
            });
        }
        while let Some(ev) = self.transactions.poll_event() {
            if let TxEvent::Timeout { tx } = ev {
                tracing::debug!(?tx, "transaction timed out");
            }
            let now = self.clock.map_or_else(Instant::now, |(at, _)| at);
            let gateway = match ev {
                TxEvent::Timeout { tx } => self.forget_gateway_tx(tx, true, now),
                TxEvent::Terminated { tx } => self.forget_gateway_tx(tx, false, now),
            };
            if !gateway {
                self.on_tx_event(ev);
            }
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581: record where the request really came from in the top
/// Via, so responses (and the binding) reach a phone behind NAT. Returns the top Via as
/// it now stands.
fn stamp_received(headers: &mut wire::Headers, source: SocketAddr) -> Option<wire::Via> {
    let mut via = headers.top_via().ok()?;
    if apply_received(&mut via, source) {
        headers.set_top_via(&via);
    }
    Some(via)
}

fn apply_received(via: &mut wire::Via, source: SocketAddr) -> bool {
    let mut changed = false;
    let same_host = match &via.host {
        Host::V4(ip) => IpAddr::V4(*ip) == source.ip(),
        Host::V6(ip) => IpAddr::V6(*ip) == source.ip(),
        Host::Name(_) => false,
    };
    let wants_rport = via.params.get("rport").is_some();
    if !same_host || wants_rport {
        via.params.set("received", Some(&source.ip().to_string()));
        changed = true;
    }
    if wants_rport {
        via.params.set("rport", Some(&source.port().to_string()));
        changed = true;
    }
    changed
}

/// Where a response goes (RFC 3261 §18.2.2 with RFC 3581): over a stream, back on the
/// connection; over UDP, to `received`:`rport` when present, else the source address.
fn response_destination(headers: &wire::Headers, peer: Peer) -> Peer {
    match headers.top_via() {
        Ok(via) => via_destination(&via, peer),
        Err(_) => peer,
    }
}

fn via_destination(via: &wire::Via, peer: Peer) -> Peer {
    if peer.transport == TransportKind::Tcp {
        return peer;
    }
    let ip = match via.params.get("received") {
        Some(Some(r)) => r.parse().unwrap_or(peer.addr.ip()),
        _ => peer.addr.ip(),
    };
    let port = match via.params.get("rport") {
        Some(Some(p)) => p.parse().unwrap_or(peer.addr.port()),
        _ => peer.addr.port(),
    };
    Peer {
        addr: SocketAddr::new(ip, port),
        transport: peer.transport,
    }
}

fn is_ack(headers: &wire::Headers) -> bool {
    match headers.cseq() {
        Ok(cseq) => cseq.method == Method::Ack,
        Err(_) => false,
    }
}

/// A reason phrase safe for a status line: printable ASCII, bounded.
fn reason_phrase(detail: &str) -> String {
    let mut s: String = detail
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .take(100)
        .collect();
    if s.trim().is_empty() {
        s = "Bad Request".into();
    }
    format!("Bad Request ({})", s.trim())
}

#[cfg(test)]
pub(crate) mod tests;
