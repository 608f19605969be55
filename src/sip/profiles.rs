//! Every SIP profile of the box behind one switch. Each profile has its own core (its
//! own address, registrar, transactions and legs); the switch commands legs by id, and
//! a leg's id says which profile's core holds it ([`LegId::profile`]). A call from a
//! phone on `internal` can so be bridged to a carrier on `external`.

use crate::sip::core::SipCore;
use crate::sip::dialog::{CallEvent, GatewayRoute, GatewayUnavailable, LegId, OutboundCall};
use crate::sip::sdp::Sdp;
use crate::store::Binding;
use std::time::Instant;

/// The profiles' cores, in configuration order (a core's index is its place here).
pub struct Profiles {
    cores: Vec<SipCore>,
    /// Where the next `poll_call_event` starts, so no profile starves the others.
    next_poll: usize,
}

impl Profiles {
    /// `cores[i]` must have been built with `CoreConfig::index == i`.
    pub fn new(cores: Vec<SipCore>) -> Profiles {
        debug_assert!(cores
            .iter()
            .enumerate()
            .all(|(i, c)| usize::from(c.config().index) == i));
        Profiles {
            cores,
            next_poll: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.cores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cores.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&SipCore> {
        self.cores.get(index)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut SipCore> {
        self.cores.get_mut(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SipCore> {
        self.cores.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut SipCore> {
        self.cores.iter_mut()
    }

    /// The index of the profile called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.cores.iter().position(|c| c.config().profile == name)
    }

    /// How to call `number` through gateway `name`, and the profile that has it.
    pub fn gateway_route(
        &mut self,
        name: &str,
        number: &str,
    ) -> Result<(usize, GatewayRoute), GatewayUnavailable> {
        let i = self
            .cores
            .iter()
            .position(|c| c.gateway(name).is_some())
            .ok_or(GatewayUnavailable::Unknown)?;
        let core = self.cores.get_mut(i).ok_or(GatewayUnavailable::Unknown)?;
        Ok((i, core.gateway_route(name, number)?))
    }

    /// Every registered contact of `aor` with the profile it registered on: a user
    /// may have phones on several profiles, and each is called through its own.
    pub fn bindings(&self, aor: &str) -> Vec<(usize, Binding)> {
        self.cores
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                c.registrar()
                    .location
                    .bindings(aor)
                    .iter()
                    .map(move |b| (i, b.clone()))
            })
            .collect()
    }

    /// The next call event from any profile, taking turns.
    pub fn poll_call_event(&mut self) -> Option<CallEvent> {
        let n = self.cores.len();
        for k in 0..n {
            let i = (self.next_poll + k) % n;
            if let Some(ev) = self.cores.get_mut(i).and_then(SipCore::poll_call_event) {
                self.next_poll = (i + 1) % n;
                return Some(ev);
            }
        }
        None
    }

    /// Places `call` through the profile at `profile`.
    pub fn invite(&mut self, profile: usize, call: &OutboundCall, now: Instant) -> Option<LegId> {
        self.cores.get_mut(profile)?.invite(call, now)
    }

    fn core_of(&mut self, leg: LegId) -> Option<&mut SipCore> {
        self.cores.get_mut(leg.profile())
    }

    pub fn progress(&mut self, leg: LegId, code: u16, sdp: Option<&Sdp>, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.progress(leg, code, sdp, now);
        }
    }

    pub fn answer(&mut self, leg: LegId, sdp: &Sdp, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.answer(leg, sdp, now);
        }
    }

    pub fn hangup(&mut self, leg: LegId, code: u16, reason: Option<&str>, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.hangup(leg, code, reason, now);
        }
    }

    pub fn refuse(&mut self, leg: LegId, code: u16, phrase: &str, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.refuse(leg, code, phrase, now);
        }
    }

    pub fn reinvite(&mut self, leg: LegId, sdp: &Sdp, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.reinvite(leg, sdp, now);
        }
    }

    pub fn answer_reoffer(&mut self, leg: LegId, sdp: Option<&Sdp>, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.answer_reoffer(leg, sdp, now);
        }
    }

    pub fn refuse_reoffer(&mut self, leg: LegId, code: u16, reason: &str, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.refuse_reoffer(leg, code, reason, now);
        }
    }

    pub fn send_info_dtmf(&mut self, leg: LegId, dtmf: crate::sip::dialog::Dtmf, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.send_info_dtmf(leg, dtmf, now);
        }
    }

    pub fn acknowledge_bye(&mut self, leg: LegId, now: Instant) {
        if let Some(c) = self.core_of(leg) {
            c.acknowledge_bye(leg, now);
        }
    }
}
