//! One channel as the switch runs it: the FreeSWITCH-style [`Channel`] (state,
//! caller profile, variables) plus what the switch needs to drive it — its SIP leg,
//! its media session, the dialplan's plan and where execution waits.

use std::net::SocketAddr;
use std::time::Instant;

use super::channel::Channel;
use crate::dialplan::Planned;
use crate::sip::dialog::LegId;
use crate::sip::sdp::{Negotiated, Sdp};

/// The media engine's key for a channel's RTP session.
pub type MediaId = u64;

/// A bridge or originate in progress (see `dial.rs`).
pub type DialId = u64;

/// Where a channel's execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Run the next application.
    Ready,
    /// `sleep`: until then.
    Until(Instant),
    /// `playback`: until the media engine says this playback is done.
    Playback(u64),
    /// `bridge`: until a leg answers or all fail.
    Dialing(DialId),
    /// Bridged to another channel: until one side hangs up.
    Bridged,
    /// `park`, `echo`, or a B-leg without a plan: until hung up or told otherwise.
    Parked,
}

#[derive(Debug)]
pub struct Session {
    pub channel: Channel,
    /// The SIP leg while it lasts.
    pub leg: Option<LegId>,
    pub outbound: bool,
    pub media: MediaId,
    pub local_rtp: SocketAddr,
    /// The RTP address our SDP gives the peer: `local_rtp`, or the outside address
    /// (`ext-rtp-ip`) for a peer beyond the NAT.
    pub sdp_rtp: SocketAddr,
    /// What we last described to the peer (the version goes up with each change).
    pub local_sdp: Option<Sdp>,
    /// The stream the peer and we agreed on.
    pub stream: Option<Negotiated>,
    pub answered: bool,
    pub early_media: bool,
    pub start_us: u64,
    pub answer_us: Option<u64>,
    pub plan: Vec<Planned>,
    pub pc: usize,
    pub wait: Wait,
    /// The channel bridged to this one.
    pub peer: Option<String>,
    /// This channel is a leg being dialled by that bridge/originate.
    pub dialled_by: Option<DialId>,
    /// The application running, for `show channels`.
    pub application: Option<(String, String)>,
    /// Unix seconds it was created (for `show channels`' created_epoch).
    pub created_epoch: u64,
    /// The phone's BYE that ended the call, answered once the record is written.
    pub bye: Option<LegId>,
}

impl Session {
    pub fn uuid(&self) -> &str {
        &self.channel.uuid
    }

    /// Our SDP with its version moved on (RFC 3264 §8: each new offer or answer).
    pub fn next_sdp(&mut self, mut sdp: Sdp) -> Sdp {
        if let Some(prev) = &self.local_sdp {
            sdp.origin.session_id = prev.origin.session_id;
            sdp.origin.session_version = prev.origin.session_version + 1;
        }
        self.local_sdp = Some(sdp.clone());
        sdp
    }

    /// A variable read as FreeSWITCH reads booleans (`true`, `yes`, `on`, `1`).
    pub fn flag(&self, name: &str) -> bool {
        self.channel
            .get(name)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
    }
}
