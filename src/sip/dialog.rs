//! Call legs as the layer above sees them: one INVITE dialog (RFC 3261 §12–§15) per
//! leg, inbound (a phone called us) or outbound (we called a phone). The core turns
//! what arrives into [`CallEvent`]s and takes commands (`progress`, `answer`,
//! `hangup`, `invite`, ...) by [`LegId`]; it never decides what a call does — that is
//! the switch's job — and the switch never sees a SIP header it did not ask for.

use crate::sip::sdp::Sdp;
use crate::sip::transaction::Peer;

/// One leg's handle, unique for the life of the process. Its high bits say which SIP
/// profile's core holds the leg ([`LegId::profile`]), so one switch can drive the legs
/// of every profile and each command reaches the right core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl LegId {
    /// Bits below the profile index.
    const PROFILE_SHIFT: u32 = 48;

    /// The `n`th leg of the profile at `profile` (0-based, as configured).
    pub fn new(profile: u16, n: u64) -> LegId {
        LegId((u64::from(profile) << Self::PROFILE_SHIFT) | (n & ((1 << Self::PROFILE_SHIFT) - 1)))
    }

    /// Index of the profile whose core holds this leg.
    pub fn profile(self) -> usize {
        (self.0 >> Self::PROFILE_SHIFT) as usize
    }
}

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

/// A new call from the network, authenticated when the profile asks for it.
#[derive(Clone, Debug)]
pub struct IncomingCall {
    pub call_id: String,
    /// The user the digest authenticated (None when the profile does not challenge).
    pub auth_user: Option<String>,
    pub from_user: String,
    pub from_display: Option<String>,
    pub from_host: String,
    /// The Request-URI's user: what was dialled.
    pub destination: String,
    pub to_user: String,
    pub source: Peer,
    pub user_agent: Option<String>,
    /// The offer; None for a late offer (RFC 3261 §13.2.1: the INVITE has no SDP, our
    /// 200 carries the offer and the ACK the answer).
    pub sdp: Option<Sdp>,
    /// `X-` headers, passed on as `sip_h_X-...` variables.
    pub x_headers: Vec<(String, String)>,
    /// The carrier gateway the call came through (from its address, or to the
    /// Contact it registered, `gw+NAME`).
    pub gateway: Option<String>,
    /// Where to route it instead of the profile's context (the gateway's `context`,
    /// for a call to its registered Contact, as mod_sofia does).
    pub context: Option<String>,
}

/// Why a leg ended from the far side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEnd {
    /// BYE received.
    Bye,
    /// The caller sent CANCEL before the call was answered.
    Cancelled,
    /// The callee refused the INVITE with this final response.
    Refused { code: u16, reason: String },
    /// No final response to our INVITE, or no ACK for our 2xx.
    Timeout,
}

impl LegEnd {
    /// FreeSWITCH's `sip_hangup_disposition` for a hangup the far end started.
    pub fn disposition(&self) -> &'static str {
        match self {
            LegEnd::Bye => "recv_bye",
            LegEnd::Cancelled => "recv_cancel",
            LegEnd::Refused { .. } => "recv_refuse",
            LegEnd::Timeout => "send_refuse",
        }
    }
}

/// What happened on a leg.
#[derive(Clone, Debug)]
pub enum CallEvent {
    /// A DTMF digit the peer sent in an INFO (already answered 200).
    Dtmf {
        leg: LegId,
        dtmf: Dtmf,
    },
    Incoming {
        leg: LegId,
        call: Box<IncomingCall>,
    },
    /// 180 or 183 on an outbound leg (183 usually with early media).
    Progress {
        leg: LegId,
        code: u16,
        sdp: Option<Sdp>,
    },
    /// 2xx on an outbound leg; the ACK is already sent.
    Answered {
        leg: LegId,
        sdp: Option<Sdp>,
    },
    /// A re-INVITE or UPDATE from the peer: answer with `answer_reoffer`.
    Reoffer {
        leg: LegId,
        sdp: Option<Sdp>,
    },
    /// The peer answered our re-INVITE.
    ReofferAnswered {
        leg: LegId,
        sdp: Option<Sdp>,
    },
    /// The ACK of a late-offer call carried the answer to the offer in our 200.
    AckAnswer {
        leg: LegId,
        sdp: Sdp,
    },
    /// The far end ended the leg; it is gone from the core.
    Ended {
        leg: LegId,
        end: LegEnd,
    },
}

/// One DTMF digit signalled in SIP (INFO), not in the media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtmf {
    /// One of `0123456789*#ABCD`.
    pub digit: char,
    pub duration_ms: u32,
}

/// A call we place to a phone.
#[derive(Clone, Debug)]
pub struct OutboundCall {
    /// The registered Contact URI.
    pub request_uri: String,
    /// Where it is really reached (the binding's source, for NAT).
    pub peer: Peer,
    /// `<sip:1002@example.com>`.
    pub to: String,
    pub from_user: String,
    pub from_display: String,
    /// The From host; None: the profile's domain.
    pub from_host: Option<String>,
    pub sdp: Sdp,
    /// Extra headers (`X-...` passed from the A-leg, P-Asserted-Identity).
    pub headers: Vec<(String, String)>,
    /// What answers the far end's 401/407 (a carrier's challenge on our INVITE).
    pub login: Option<Login>,
}

/// A username and password we authenticate with at a carrier.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, <password>)", self.username)
    }
}

/// How a call to `sofia/gateway/NAME/NUMBER` is addressed, from the gateway's config.
#[derive(Clone, Debug)]
pub struct GatewayRoute {
    pub gateway: String,
    pub request_uri: String,
    /// Where the INVITE goes: the outbound proxy, else the proxy.
    pub peer: Peer,
    pub to: String,
    pub from_host: String,
    /// The From user when the gateway does not put the caller ID there
    /// (`caller-id-in-from` false): the gateway's from-user.
    pub from_user: Option<String>,
    pub login: Login,
    /// The gateway's `cid-type` (`pid` adds P-Asserted-Identity).
    pub cid_type: Option<String>,
    /// The gateway's `codec-prefs`, when it has its own.
    pub codecs: Option<crate::sip::sdp::Offerable>,
}

/// Why a gateway cannot take a call now (FreeSWITCH's causes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayUnavailable {
    /// No gateway by that name (INVALID_GATEWAY).
    Unknown,
    /// Its OPTIONS pings say it is down (GATEWAY_DOWN).
    Down,
}
