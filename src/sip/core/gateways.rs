//! The carrier gateways of a profile (`sip_profiles/external/*.xml`): their
//! registrations and OPTIONS keepalives run here, inside the core, so their requests
//! use the profile's socket and transaction layer (retransmissions over UDP included),
//! and so requests from a gateway's address can be recognised as the carrier's.
//!
//! Two state machines per gateway, both sans-IO: [`Registration`] (UNREGED, TRYING,
//! REGED, ...) and [`Pinger`] (UP/DOWN). This file feeds each what the other does: a
//! registration that succeeds takes the gateway UP, one that fails takes it DOWN, and a
//! ping that fails while registered makes the registration start again.

use super::SipCore;
use crate::sip::dialog::{GatewayRoute, GatewayUnavailable, Login};
use crate::sip::gateway::{RegConfig, RegState, Registration};
use crate::sip::gateway_status::GatewayReport;
use crate::sip::keepalive::{GatewayStatus, PingConfig, PingOutcome, Pinger};
use crate::sip::transaction::{Peer, TxId};
use crate::sip::wire::{Request, Response, Uri};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A gateway as the driver resolved it from the config.
#[derive(Clone, Debug)]
pub struct GatewaySetup {
    pub registration: RegConfig,
    /// Where REGISTERs go (`register-proxy`, resolved).
    pub register_to: Peer,
    /// Where INVITEs and OPTIONS go (`outbound-proxy`, else `proxy`, resolved).
    pub proxy: Peer,
    /// The host of the Request-URI and To of calls (`register-proxy` as written).
    pub uri_host: String,
    /// `extension`: the destination of calls the carrier sends to our registered
    /// Contact (`gw+NAME`); `auto_to_user` takes the To user.
    pub extension: String,
    /// `codec-prefs`: what calls through this carrier offer (the profile's if None).
    pub codecs: Option<crate::sip::sdp::Offerable>,
    /// `caller-id-in-from`: the caller's number as From user.
    pub caller_id_in_from: bool,
    /// `cid-type` (`pid`, `rpid`, `none`).
    pub cid_type: Option<String>,
    /// Where calls from the carrier are routed (`context`, else the profile's).
    pub context: String,
    /// `ping`: OPTIONS this often (None: no keepalive).
    pub ping: Option<Duration>,
    pub ping_max: u32,
    pub ping_min: u32,
}

/// What a gateway has done since start (`sofia status gateway`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayCounts {
    pub calls_in: u64,
    pub calls_out: u64,
    pub failed_calls_in: u64,
    pub failed_calls_out: u64,
}

/// One gateway at run time.
pub struct Gateway {
    pub setup: GatewaySetup,
    pub registration: Registration,
    pub pinger: Pinger,
    pub counts: GatewayCounts,
}

impl Gateway {
    pub fn name(&self) -> &str {
        &self.setup.registration.name
    }

    /// Whether a request from `ip` comes from this carrier.
    pub fn is_source(&self, ip: IpAddr) -> bool {
        self.setup.proxy.addr.ip() == ip || self.setup.register_to.addr.ip() == ip
    }

    /// UP or DOWN: from the pings, or from the registration when not pinged.
    pub fn status(&self) -> GatewayStatus {
        self.pinger.status()
    }
}

/// Which gateway, and what for, one of our client transactions is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GatewayTx {
    Register(usize),
    Ping(usize),
}

impl SipCore {
    /// Adds a gateway; its first REGISTER goes at the next timeout.
    pub fn add_gateway(&mut self, setup: GatewaySetup, now: Instant) {
        let ids = format!("{}{}", self.tags.next(), self.tags.next());
        let r = &setup.registration;
        let registration = Registration::new(r.clone(), &ids, now);
        let target = Uri::parse(&format!("sip:{}", r.registrar))
            .or_else(|_| Uri::parse(&format!("sip:{}", setup.register_to.addr)));
        let ping_config = PingConfig {
            target: match target {
                Ok(t) => t,
                Err(_) => {
                    tracing::error!(gateway = %r.name, registrar = %r.registrar, "gateway address is no SIP URI host: not added");
                    return;
                }
            },
            domain: r.from_domain.clone(),
            local: r.local.clone(),
            tcp: r.tcp,
            user_agent: r.user_agent.clone(),
            contact: None,
            register: r.register,
            monitoring: false,
            ids: format!("{}{}", self.tags.next(), self.tags.next()),
        };
        let pinger = Pinger::new(
            &r.name,
            setup.ping,
            setup.ping_max,
            setup.ping_min,
            now,
            ping_config,
        );
        self.gateways.push(Gateway {
            setup,
            registration,
            pinger,
            counts: GatewayCounts::default(),
        });
    }

    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    pub fn gateway(&self, name: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.name() == name)
    }

    /// The gateway whose registered Contact user (`gw+NAME`) a Request-URI user is.
    pub fn registered_gateway(&self, uri_user: &str) -> Option<&Gateway> {
        let name = uri_user.strip_prefix("gw+")?;
        self.gateway(name.split('@').next().unwrap_or(name))
    }

    /// The gateway a request from `ip` comes from.
    pub fn gateway_at(&self, ip: IpAddr) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.is_source(ip))
    }

    /// How to call `number` through gateway `name` (FreeSWITCH's
    /// `sofia/gateway/NAME/NUMBER`).
    pub fn gateway_route(
        &mut self,
        name: &str,
        number: &str,
    ) -> Result<GatewayRoute, GatewayUnavailable> {
        let g = self
            .gateways
            .iter_mut()
            .find(|g| g.setup.registration.name == name)
            .ok_or(GatewayUnavailable::Unknown)?;
        if g.status() == GatewayStatus::Down {
            g.counts.failed_calls_out += 1;
            return Err(GatewayUnavailable::Down);
        }
        let s = &g.setup;
        let r = &s.registration;
        let uri = if number.contains('@') {
            format!("sip:{number}")
        } else {
            format!("sip:{number}@{}", s.uri_host)
        };
        g.counts.calls_out += 1;
        Ok(GatewayRoute {
            gateway: r.name.clone(),
            to: format!("<{uri}>"),
            request_uri: uri,
            peer: s.proxy,
            from_host: r.from_domain.clone(),
            from_user: (!s.caller_id_in_from).then(|| r.from_user.clone()),
            login: Login {
                username: r.username.clone(),
                password: r.password.clone(),
            },
            cid_type: s.cid_type.clone(),
            codecs: s.codecs.clone(),
        })
    }

    /// The gateways' next wake-up (a REGISTER due, or a wait that runs out).
    pub(super) fn gateways_timeout(&self) -> Option<Instant> {
        self.gateways
            .iter()
            .flat_map(|g| [g.registration.poll_timeout(), g.pinger.poll_timeout()])
            .flatten()
            .min()
    }

    pub(super) fn handle_gateway_timers(&mut self, now: Instant) {
        for i in 0..self.gateways.len() {
            let Some(g) = self.gateways.get_mut(i) else {
                continue;
            };
            let before = g.registration.state();
            if let Some(req) = g.registration.handle_timeout(now) {
                self.send_gateway_register(i, req, now);
            }
            self.note_gateway_state(i, before, now);
            let Some(g) = self.gateways.get_mut(i) else {
                continue;
            };
            if let Some(ping) = g.pinger.handle_timeout(now) {
                let peer = g.setup.register_to;
                let tx = self.transactions.send_request(ping, peer, now);
                self.gateway_tx.insert(tx, GatewayTx::Ping(i));
            }
        }
    }

    fn send_gateway_register(&mut self, i: usize, req: Request, now: Instant) {
        let Some(g) = self.gateways.get(i) else {
            return;
        };
        let peer = g.setup.register_to;
        let tx = self.transactions.send_request(req, peer, now);
        self.gateway_tx.insert(tx, GatewayTx::Register(i));
    }

    /// A response to one of the gateways' requests; false when `tx` is not theirs.
    pub(super) fn on_gateway_response(&mut self, tx: TxId, resp: &Response, now: Instant) -> bool {
        let Some(&what) = self.gateway_tx.get(&tx) else {
            return false;
        };
        if resp.status.code >= 200 {
            self.gateway_tx.remove(&tx);
        }
        match what {
            GatewayTx::Register(i) => {
                let Some(g) = self.gateways.get_mut(i) else {
                    return true;
                };
                let before = g.registration.state();
                if let Some(again) = g.registration.on_response(resp, now) {
                    self.send_gateway_register(i, again, now);
                }
                self.note_gateway_state(i, before, now);
            }
            GatewayTx::Ping(i) => {
                let outcome = self
                    .gateways
                    .get_mut(i)
                    .and_then(|g| g.pinger.on_response(resp, now));
                if let Some(o) = outcome {
                    self.on_ping_outcome(i, o, now);
                }
            }
        }
        true
    }

    /// A transaction of a gateway's ended. A ping with no answer is a failed ping; a
    /// REGISTER with none is left to the registration's own timer.
    pub(super) fn forget_gateway_tx(&mut self, tx: TxId, timed_out: bool, now: Instant) -> bool {
        match self.gateway_tx.remove(&tx) {
            None => false,
            Some(GatewayTx::Ping(i)) if timed_out => {
                let outcome = self
                    .gateways
                    .get_mut(i)
                    .and_then(|g| g.pinger.on_timeout(now));
                if let Some(o) = outcome {
                    self.on_ping_outcome(i, o, now);
                }
                true
            }
            Some(_) => true,
        }
    }

    fn on_ping_outcome(&mut self, i: usize, outcome: PingOutcome, now: Instant) {
        let Some(g) = self.gateways.get_mut(i) else {
            return;
        };
        let before = g.registration.state();
        if outcome.fail_registration {
            g.registration.connection_lost(now);
        }
        if outcome.fire_event {
            self.notices.push_back(super::CoreNotice::GatewayState {
                gateway: g.name().to_string(),
                state: g.registration.state(),
                status: g.status(),
                code: Some(outcome.code),
                phrase: Some(outcome.phrase),
            });
        }
        self.note_gateway_state(i, before, now);
    }

    /// Tells the pings and the rest of the box when a gateway's registration changed.
    fn note_gateway_state(&mut self, i: usize, before: RegState, now: Instant) {
        let Some(g) = self.gateways.get_mut(i) else {
            return;
        };
        let state = g.registration.state();
        if state == before {
            return;
        }
        g.pinger.on_registration(state, now);
        self.notices.push_back(super::CoreNotice::GatewayState {
            gateway: g.name().to_string(),
            state,
            status: g.status(),
            code: g.registration.last_status,
            phrase: None,
        });
    }

    /// `sofia profile P register GW` (`all` for every gateway); the names done.
    pub fn register_gateways(&mut self, name: &str, now: Instant) -> Vec<String> {
        let mut done = Vec::new();
        for g in &mut self.gateways {
            if name == "all" || g.name() == name {
                g.registration.register_now(now);
                done.push(g.name().to_string());
            }
        }
        done
    }

    /// `sofia profile P unregister GW` (`all` for every gateway); the names done.
    pub fn unregister_gateways(&mut self, name: &str, now: Instant) -> Vec<String> {
        let mut done = Vec::new();
        for i in 0..self.gateways.len() {
            let Some(g) = self.gateways.get_mut(i) else {
                continue;
            };
            if name != "all" && g.name() != name {
                continue;
            }
            done.push(g.name().to_string());
            let before = g.registration.state();
            if let Some(req) = g.registration.unregister() {
                self.send_gateway_register(i, req, now);
            }
            self.note_gateway_state(i, before, now);
        }
        done
    }

    /// `sofia profile P killgw GW`: unregistered and forgotten.
    pub fn kill_gateway(&mut self, name: &str, now: Instant) -> bool {
        if self.unregister_gateways(name, now).is_empty() {
            return false;
        }
        let Some(i) = self.gateways.iter().position(|g| g.name() == name) else {
            return false;
        };
        self.gateways.remove(i);
        // Transactions of later gateways shift down; the dead one's are dropped.
        self.gateway_tx.retain(|_, what| match what {
            GatewayTx::Register(j) | GatewayTx::Ping(j) => *j != i,
        });
        for what in self.gateway_tx.values_mut() {
            match what {
                GatewayTx::Register(j) | GatewayTx::Ping(j) if *j > i => *j -= 1,
                _ => {}
            }
        }
        true
    }
}

impl SipCore {
    /// What `sofia status gateway` shows of each gateway. `now` and `unix_s` are the
    /// same instant on both clocks (the next ping is shown as a wall-clock time).
    pub fn gateway_reports(&self, now: Instant, unix_s: u64) -> Vec<GatewayReport> {
        let profile = &self.config.profile;
        self.gateways
            .iter()
            .map(|g| {
                let r = &g.setup.registration;
                let p = &g.pinger;
                let (ping_min, ping_count, ping_max) = p.ping_state();
                let secs_until = |at: Option<Instant>| {
                    at.map(|at| at.saturating_duration_since(now).as_secs() as i64)
                };
                let next_ping = unix_s + p.next_ping().saturating_duration_since(now).as_secs();
                let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                GatewayReport {
                    name: r.name.clone(),
                    profile: profile.clone(),
                    scheme: "Digest".into(),
                    realm: r.realm.clone(),
                    username: r.username.clone(),
                    password_set: !r.password.is_empty(),
                    from: format!("<sip:{}@{}>", r.from_user, r.from_domain),
                    contact: format!("<sip:{}@{}>", r.extension, r.local),
                    exten: r.extension.clone(),
                    to: format!("sip:{}@{}", r.from_user, r.registrar),
                    proxy: format!("sip:{}", r.registrar),
                    context: g.setup.context.clone(),
                    expires: r.expire_seconds.to_string(),
                    freq: r.expire_seconds,
                    ping: if p.every().is_some() {
                        next_ping as i64
                    } else {
                        0
                    },
                    ping_freq: p.every().map_or(0, |d| d.as_secs() as u32),
                    ping_time_ms: p.ping_time_ms(),
                    ping_min,
                    ping_count,
                    ping_max,
                    state: g.registration.state(),
                    status: p.status(),
                    pinging: p.pinging(),
                    uptime_secs: p
                        .up_since()
                        .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
                    calls_in: count(g.counts.calls_in),
                    calls_out: count(g.counts.calls_out),
                    failed_calls_in: count(g.counts.failed_calls_in),
                    failed_calls_out: count(g.counts.failed_calls_out),
                    retry_in: secs_until(g.registration.poll_timeout()),
                    reg_timeout_in: secs_until(g.registration.poll_timeout()),
                }
            })
            .collect()
    }
}
