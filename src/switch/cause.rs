//! Hangup causes: FreeSWITCH's names and Q.850 numbers (what CDRs, events and
//! `hangup CAUSE` speak), and their mapping to and from SIP status codes, as
//! mod_sofia maps them (RFC 3398 plus FreeSWITCH's own extensions).

use std::fmt;
use std::str::FromStr;

macro_rules! causes {
    ($($variant:ident = $code:literal => $name:literal,)*) => {
        /// Why a call ended (`NoCause`, FreeSWITCH's NONE: it has not).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum HangupCause {
            $($variant,)*
        }

        impl HangupCause {
            /// Every cause, in FreeSWITCH's order.
            pub const ALL: &'static [HangupCause] = &[$(HangupCause::$variant,)*];

            /// The Q.850 cause value (FreeSWITCH's own causes are 142 and 487 and up).
            pub fn code(self) -> u16 {
                match self { $(HangupCause::$variant => $code,)* }
            }

            /// FreeSWITCH's name, e.g. `NORMAL_CLEARING`.
            pub fn name(self) -> &'static str {
                match self { $(HangupCause::$variant => $name,)* }
            }

            pub fn from_code(code: u16) -> Option<HangupCause> {
                match code { $($code => Some(HangupCause::$variant),)* _ => None }
            }
        }
    };
}

causes! {
    NoCause = 0 => "NONE",
    UnallocatedNumber = 1 => "UNALLOCATED_NUMBER",
    NoRouteTransitNet = 2 => "NO_ROUTE_TRANSIT_NET",
    NoRouteDestination = 3 => "NO_ROUTE_DESTINATION",
    ChannelUnacceptable = 6 => "CHANNEL_UNACCEPTABLE",
    CallAwardedDelivered = 7 => "CALL_AWARDED_DELIVERED",
    NormalClearing = 16 => "NORMAL_CLEARING",
    UserBusy = 17 => "USER_BUSY",
    NoUserResponse = 18 => "NO_USER_RESPONSE",
    NoAnswer = 19 => "NO_ANSWER",
    SubscriberAbsent = 20 => "SUBSCRIBER_ABSENT",
    CallRejected = 21 => "CALL_REJECTED",
    NumberChanged = 22 => "NUMBER_CHANGED",
    RedirectionToNewDestination = 23 => "REDIRECTION_TO_NEW_DESTINATION",
    ExchangeRoutingError = 25 => "EXCHANGE_ROUTING_ERROR",
    DestinationOutOfOrder = 27 => "DESTINATION_OUT_OF_ORDER",
    InvalidNumberFormat = 28 => "INVALID_NUMBER_FORMAT",
    FacilityRejected = 29 => "FACILITY_REJECTED",
    ResponseToStatusEnquiry = 30 => "RESPONSE_TO_STATUS_ENQUIRY",
    NormalUnspecified = 31 => "NORMAL_UNSPECIFIED",
    NormalCircuitCongestion = 34 => "NORMAL_CIRCUIT_CONGESTION",
    NetworkOutOfOrder = 38 => "NETWORK_OUT_OF_ORDER",
    NormalTemporaryFailure = 41 => "NORMAL_TEMPORARY_FAILURE",
    SwitchCongestion = 42 => "SWITCH_CONGESTION",
    AccessInfoDiscarded = 43 => "ACCESS_INFO_DISCARDED",
    RequestedChanUnavail = 44 => "REQUESTED_CHAN_UNAVAIL",
    PreEmpted = 45 => "PRE_EMPTED",
    FacilityNotSubscribed = 50 => "FACILITY_NOT_SUBSCRIBED",
    OutgoingCallBarred = 52 => "OUTGOING_CALL_BARRED",
    IncomingCallBarred = 54 => "INCOMING_CALL_BARRED",
    BearerCapabilityNotAuth = 57 => "BEARERCAPABILITY_NOTAUTH",
    BearerCapabilityNotAvail = 58 => "BEARERCAPABILITY_NOTAVAIL",
    ServiceUnavailable = 63 => "SERVICE_UNAVAILABLE",
    BearerCapabilityNotImpl = 65 => "BEARERCAPABILITY_NOTIMPL",
    ChanNotImplemented = 66 => "CHAN_NOT_IMPLEMENTED",
    FacilityNotImplemented = 69 => "FACILITY_NOT_IMPLEMENTED",
    ServiceNotImplemented = 79 => "SERVICE_NOT_IMPLEMENTED",
    InvalidCallReference = 81 => "INVALID_CALL_REFERENCE",
    IncompatibleDestination = 88 => "INCOMPATIBLE_DESTINATION",
    InvalidMsgUnspecified = 95 => "INVALID_MSG_UNSPECIFIED",
    MandatoryIeMissing = 96 => "MANDATORY_IE_MISSING",
    MessageTypeNonexist = 97 => "MESSAGE_TYPE_NONEXIST",
    WrongMessage = 98 => "WRONG_MESSAGE",
    IeNonexist = 99 => "IE_NONEXIST",
    InvalidIeContents = 100 => "INVALID_IE_CONTENTS",
    WrongCallState = 101 => "WRONG_CALL_STATE",
    RecoveryOnTimerExpire = 102 => "RECOVERY_ON_TIMER_EXPIRE",
    MandatoryIeLengthError = 103 => "MANDATORY_IE_LENGTH_ERROR",
    ProtocolError = 111 => "PROTOCOL_ERROR",
    Interworking = 127 => "INTERWORKING",
    Success = 142 => "SUCCESS",
    OriginatorCancel = 487 => "ORIGINATOR_CANCEL",
    Crash = 700 => "CRASH",
    SystemShutdown = 701 => "SYSTEM_SHUTDOWN",
    LoseRace = 702 => "LOSE_RACE",
    ManagerRequest = 703 => "MANAGER_REQUEST",
    BlindTransfer = 800 => "BLIND_TRANSFER",
    AttendedTransfer = 801 => "ATTENDED_TRANSFER",
    AllottedTimeout = 802 => "ALLOTTED_TIMEOUT",
    UserChallenge = 803 => "USER_CHALLENGE",
    MediaTimeout = 804 => "MEDIA_TIMEOUT",
    PickedOff = 805 => "PICKED_OFF",
    UserNotRegistered = 806 => "USER_NOT_REGISTERED",
    ProgressTimeout = 807 => "PROGRESS_TIMEOUT",
    InvalidGateway = 808 => "INVALID_GATEWAY",
    GatewayDown = 809 => "GATEWAY_DOWN",
    InvalidUrl = 810 => "INVALID_URL",
    InvalidProfile = 811 => "INVALID_PROFILE",
    NoPickup = 812 => "NO_PICKUP",
    SrtpReadError = 813 => "SRTP_READ_ERROR",
    Bowout = 814 => "BOWOUT",
    BusyEverywhere = 815 => "BUSY_EVERYWHERE",
    Decline = 816 => "DECLINE",
    DoesNotExistAnywhere = 817 => "DOES_NOT_EXIST_ANYWHERE",
    NotAcceptable = 818 => "NOT_ACCEPTABLE",
    Unwanted = 819 => "UNWANTED",
    NoIdentity = 820 => "NO_IDENTITY",
    BadIdentityInfo = 821 => "BAD_IDENTITY_INFO",
    UnsupportedCertificate = 822 => "UNSUPPORTED_CERTIFICATE",
    InvalidIdentity = 823 => "INVALID_IDENTITY",
    StaleDate = 824 => "STALE_DATE",
    RejectAll = 825 => "REJECT_ALL",
}

impl HangupCause {
    /// The SIP final response for a call that ends with this cause before it was
    /// answered (mod_sofia's table; anything unlisted is 480).
    pub fn to_sip(self) -> u16 {
        use HangupCause::*;
        match self {
            UnallocatedNumber | NoRouteTransitNet | NoRouteDestination => 404,
            UserBusy => 486,
            NoUserResponse => 408,
            NoAnswer | SubscriberAbsent | NormalUnspecified => 480,
            CallRejected | Decline | RejectAll => 603,
            NumberChanged | RedirectionToNewDestination => 410,
            DestinationOutOfOrder | InvalidProfile => 502,
            InvalidNumberFormat | InvalidUrl | InvalidGateway => 484,
            FacilityRejected | FacilityNotImplemented | ServiceNotImplemented => 501,
            RequestedChanUnavail
            | NormalCircuitCongestion
            | NetworkOutOfOrder
            | NormalTemporaryFailure
            | SwitchCongestion
            | GatewayDown
            | BearerCapabilityNotAvail => 503,
            OutgoingCallBarred | IncomingCallBarred | BearerCapabilityNotAuth | StaleDate => 403,
            BearerCapabilityNotImpl | IncompatibleDestination => 488,
            RecoveryOnTimerExpire => 504,
            OriginatorCancel => 487,
            ExchangeRoutingError => 483,
            BusyEverywhere => 600,
            DoesNotExistAnywhere => 604,
            NotAcceptable => 606,
            Unwanted => 607,
            NoIdentity => 428,
            BadIdentityInfo => 429,
            UnsupportedCertificate => 437,
            InvalidIdentity => 438,
            _ => 480,
        }
    }

    /// The cause for a SIP final response a call leg received (RFC 3398 §8.2.6.1 as
    /// mod_sofia reads it; anything unlisted is NORMAL_UNSPECIFIED).
    pub fn from_sip(status: u16) -> HangupCause {
        use HangupCause::*;
        match status {
            200 => NormalClearing,
            401 | 402 | 403 | 407 | 603 | 608 => CallRejected,
            607 => Unwanted,
            404 => UnallocatedNumber,
            485 | 604 => NoRouteDestination,
            408 | 504 => RecoveryOnTimerExpire,
            410 => NumberChanged,
            413 | 414 | 416 | 420 | 421 | 423 | 505 | 513 => Interworking,
            480 => NoUserResponse,
            400 | 481 | 500 | 503 => NormalTemporaryFailure,
            486 | 600 => UserBusy,
            484 => InvalidNumberFormat,
            488 | 606 => IncompatibleDestination,
            502 => NetworkOutOfOrder,
            405 => ServiceUnavailable,
            406 | 415 | 501 => ServiceNotImplemented,
            482 | 483 => ExchangeRoutingError,
            487 => OriginatorCancel,
            428 => NoIdentity,
            429 => BadIdentityInfo,
            437 => UnsupportedCertificate,
            438 => InvalidIdentity,
            _ => NormalUnspecified,
        }
    }
}

impl fmt::Display for HangupCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name `hangup` or a dialplan did not recognise.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownCause(pub String);

impl fmt::Display for UnknownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown hangup cause {:?} (e.g. NORMAL_CLEARING, USER_BUSY, CALL_REJECTED)",
            self.0
        )
    }
}

impl FromStr for HangupCause {
    type Err = UnknownCause;

    /// A name as FreeSWITCH accepts it (`USER_BUSY`, any case) or a Q.850 number (`17`).
    fn from_str(s: &str) -> Result<HangupCause, UnknownCause> {
        let t = s.trim();
        if let Ok(code) = t.parse::<u16>() {
            return HangupCause::from_code(code).ok_or_else(|| UnknownCause(s.to_string()));
        }
        HangupCause::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownCause(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        assert_eq!(HangupCause::ALL.len(), 82);
        for &c in HangupCause::ALL {
            assert_eq!(c.name().parse::<HangupCause>(), Ok(c));
            assert_eq!(c.code().to_string().parse::<HangupCause>(), Ok(c));
            assert_eq!(HangupCause::from_code(c.code()), Some(c));
        }
        assert_eq!("user_busy".parse(), Ok(HangupCause::UserBusy));
        assert!("NOT_A_CAUSE".parse::<HangupCause>().is_err());
        assert_eq!(HangupCause::NormalClearing.to_string(), "NORMAL_CLEARING");
        assert_eq!(HangupCause::NormalClearing.code(), 16);
    }

    #[test]
    fn sip_statuses_map_as_rfc_3398_and_mod_sofia_say() {
        use HangupCause::*;
        for (status, cause) in [
            (404, UnallocatedNumber),
            (486, UserBusy),
            (480, NoUserResponse),
            (487, OriginatorCancel),
            (603, CallRejected),
            (408, RecoveryOnTimerExpire),
            (503, NormalTemporaryFailure),
            (488, IncompatibleDestination),
            (484, InvalidNumberFormat),
            (599, NormalUnspecified),
        ] {
            assert_eq!(HangupCause::from_sip(status), cause, "{status}");
        }
        for (cause, status) in [
            (UnallocatedNumber, 404),
            (NoRouteDestination, 404),
            (UserBusy, 486),
            (NoAnswer, 480),
            (NoUserResponse, 408),
            (CallRejected, 603),
            (OriginatorCancel, 487),
            (GatewayDown, 503),
            (IncompatibleDestination, 488),
            (NormalClearing, 480),
        ] {
            assert_eq!(cause.to_sip(), status, "{cause}");
        }
    }
}
