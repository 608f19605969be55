//! The carrier gateways of a profile (`sip_profiles/external/*.xml`): their
//! registrations run here, inside the core, so their REGISTERs use the profile's
//! socket and transaction layer (retransmissions over UDP included), and so requests
//! from a gateway's address can be recognised as the carrier's.

use super::SipCore;
use crate::sip::dialog::{GatewayRoute, GatewayUnavailable, Login};
use crate::sip::gateway::{RegConfig, RegState, Registration};
use crate::sip::transaction::{Peer, TxId};
use crate::sip::wire::{Request, Response};
use std::net::IpAddr;
use std::time::Instant;

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
    /// `caller-id-in-from`: the caller's number as From user.
    pub caller_id_in_from: bool,
    /// `cid-type` (`pid`, `rpid`, `none`).
    pub cid_type: Option<String>,
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
}

/// Which gateway, and what for, one of our client transactions is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GatewayTx {
    Register(usize),
}

impl SipCore {
    /// Adds a gateway; its first REGISTER goes at the next timeout.
    pub fn add_gateway(&mut self, setup: GatewaySetup, now: Instant) {
        let ids = format!("{}{}", self.tags.next(), self.tags.next());
        let registration = Registration::new(setup.registration.clone(), &ids, now);
        self.gateways.push(Gateway {
            setup,
            registration,
            counts: GatewayCounts::default(),
        });
    }

    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    pub fn gateway(&self, name: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.name() == name)
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
        })
    }

    /// The gateways' next wake-up (a REGISTER due, or a wait that runs out).
    pub(super) fn gateways_timeout(&self) -> Option<Instant> {
        self.gateways
            .iter()
            .filter_map(|g| g.registration.poll_timeout())
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
            self.note_gateway_state(i, before);
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
        let Some(&GatewayTx::Register(i)) = self.gateway_tx.get(&tx) else {
            return false;
        };
        if resp.status.code >= 200 {
            self.gateway_tx.remove(&tx);
        }
        let Some(g) = self.gateways.get_mut(i) else {
            return true;
        };
        let before = g.registration.state();
        if let Some(again) = g.registration.on_response(resp, now) {
            self.send_gateway_register(i, again, now);
        }
        self.note_gateway_state(i, before);
        true
    }

    /// A transaction of a gateway's ended; the registration's own timer handles a
    /// REGISTER that got no answer.
    pub(super) fn forget_gateway_tx(&mut self, tx: TxId) -> bool {
        self.gateway_tx.remove(&tx).is_some()
    }

    /// Tells the rest of the box when a gateway's state changed.
    fn note_gateway_state(&mut self, i: usize, before: RegState) {
        let Some(g) = self.gateways.get(i) else {
            return;
        };
        let state = g.registration.state();
        if state != before {
            self.notices.push_back(super::CoreNotice::GatewayState {
                gateway: g.name().to_string(),
                state,
                status: g.registration.last_status,
            });
        }
    }
}
