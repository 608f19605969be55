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
        if let Some(peer) = peer {
            self.deliver(&peer, dtmf, sip, clock);
        }
    }

    /// `uuid_send_dtmf`: digits to the channel's own phone, the way it takes them.
    pub fn send_dtmf(
        &mut self,
        uuid: &str,
        digits: &[Dtmf],
        sip: &mut Profiles,
        clock: Clock,
    ) -> Result<(), &'static str> {
        if !self.sessions.contains_key(uuid) {
            return Err("Cannot locate session!");
        }
        for d in digits {
            self.deliver(uuid, *d, sip, clock);
        }
        Ok(())
    }

    /// A digit to the phone behind channel `uuid`: in an INFO, or into its RTP as
    /// telephone-events.
    fn deliver(&mut self, uuid: &str, dtmf: Dtmf, sip: &mut Profiles, clock: Clock) {
        let Some(s) = self.sessions.get(uuid) else {
            return;
        };
        match (method(s), s.leg) {
            (DtmfMethod::Info, Some(leg)) => sip.send_info_dtmf(leg, dtmf, clock.now),
            (DtmfMethod::Rfc2833, _) => {
                let id = s.media;
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

/// FreeSWITCH's default DTMF length (2000 samples at 8 kHz).
pub const DEFAULT_DTMF_MS: u32 = 250;

/// `uuid_send_dtmf`'s digits, as switch_core_session_send_dtmf_string reads them:
/// groups joined by `+`, each `DIGITS[@MS]` (MS: each digit's length, default 250); a
/// leading `~` is allowed; at most 99 characters.
pub fn parse_dtmf_string(s: &str) -> Result<Vec<Dtmf>, String> {
    let s = s.strip_prefix('~').unwrap_or(s);
    if s.is_empty() || s.len() > 99 {
        return Err("DTMF string is empty or longer than 99 characters".into());
    }
    let mut out = Vec::new();
    for group in s.split('+') {
        let (digits, ms) = match group.split_once('@') {
            Some((d, ms)) => (
                d,
                ms.parse::<u32>()
                    .map_err(|_| format!("bad duration {ms:?} (milliseconds)"))?,
            ),
            None => (group, DEFAULT_DTMF_MS),
        };
        for c in digits.chars() {
            match c {
                '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d' => out.push(Dtmf {
                    digit: c.to_ascii_uppercase(),
                    duration_ms: ms,
                }),
                'w' | 'W' => return Err("pauses (w, W) are not supported".into()),
                _ => return Err(format!("{c:?} is not a DTMF digit (0-9 * # A-D)")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_strings_read_as_freeswitch_reads_them() {
        let d = parse_dtmf_string("12@100+#").unwrap();
        let got: Vec<(char, u32)> = d.iter().map(|d| (d.digit, d.duration_ms)).collect();
        assert_eq!(got, [('1', 100), ('2', 100), ('#', 250)]);
        assert_eq!(parse_dtmf_string("~a").unwrap()[0].digit, 'A');
        for bad in ["", "1w2", "x", "1@long", &"1".repeat(100)] {
            assert!(parse_dtmf_string(bad).is_err(), "{bad:?}");
        }
    }
}
