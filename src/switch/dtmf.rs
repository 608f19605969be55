//! DTMF signalled in SIP (INFO): the `DTMF` event, and the digit passed on to the
//! channel bridged to the one that sent it, the way that channel takes DTMF.
//!
//! How a channel takes DTMF, as mod_sofia decides it: its `dtmf_type` variable
//! (`info`, `rfc2833`, `none`) when set; otherwise RFC 2833 when its SDP negotiated
//! telephone-event, INFO when it did not ("No 2833 in SDP ... switch to INFO").
//!
//! A digit for a channel that takes RFC 2833 is generated into its RTP as
//! telephone-events (media::dtmf), as FreeSWITCH queues it on the channel for its RTP.
//!
//! Where this differs from FreeSWITCH: mod_sofia ignores an INFO digit on a channel
//! that negotiated RFC 2833 unless `liberal-dtmf` is on; loopstart always takes it
//! (liberal), since a digit the caller pressed should not vanish.

use super::engine::{Clock, Switch};
use super::event::EventName;
use super::session::Session;
use crate::sip::dialog::{Dtmf, LegId};
use crate::sip::profiles::Profiles;

/// How a channel takes DTMF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DtmfMethod {
    Info,
    Rfc2833,
    None,
}

fn method(s: &Session) -> DtmfMethod {
    match s.channel.get("dtmf_type").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == "info" => DtmfMethod::Info,
        Some(v) if v == "none" => DtmfMethod::None,
        Some(v) if v == "rfc2833" => DtmfMethod::Rfc2833,
        _ => match s.stream.as_ref().and_then(|n| n.telephone_event) {
            Some(_) => DtmfMethod::Rfc2833,
            None => DtmfMethod::Info,
        },
    }
}

impl Switch {
    /// A digit from the SIP leg `leg`.
    pub(super) fn on_dtmf(&mut self, leg: LegId, dtmf: Dtmf, sip: &mut Profiles, clock: Clock) {
        let Some(uuid) = self.by_leg.get(&leg).cloned() else {
            return;
        };
        let Some(s) = self.sessions.get(&uuid) else {
            return;
        };
        tracing::debug!(%uuid, digit = %dtmf.digit, ms = dtmf.duration_ms, "INFO DTMF");
        let peer = s.peer.clone();
        if self.events_wanted() {
            let mut e = self.channel_event(&s.channel, EventName::Dtmf, clock);
            e.add("DTMF-Digit", &dtmf.digit.to_string());
            // In samples at 8 kHz, as FreeSWITCH counts it.
            e.add("DTMF-Duration", &(dtmf.duration_ms * 8).to_string());
            e.add("DTMF-Source", "ENDPOINT");
            self.push_event(e);
        }
        let Some(peer) = peer else {
            return;
        };
        let Some(p) = self.sessions.get(&peer) else {
            return;
        };
        match (method(p), p.leg) {
            (DtmfMethod::Info, Some(peer_leg)) => sip.send_info_dtmf(peer_leg, dtmf, clock.now),
            (DtmfMethod::Rfc2833, _) => {
                let id = p.media;
                self.media(super::engine::MediaOp::Dtmf {
                    id,
                    digit: dtmf.digit,
                    duration_ms: dtmf.duration_ms,
                });
            }
            _ => {}
        }
    }
}
