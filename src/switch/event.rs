//! Events with FreeSWITCH's names and headers (`CHANNEL_CREATE`, `CHANNEL_ANSWER`,
//! `CHANNEL_HANGUP_COMPLETE`, ...), and their ESL `text/event-plain` form: what
//! ESL clients, the CDR writer and fail2ban subscribe to. Building one is pure: the
//! caller hands in the stamp (time, sequence, core identity).

use std::fmt::Write as _;

use super::channel::{CallState, Channel, ChannelState};
use crate::civil::{http_date, CivilTime};

macro_rules! event_names {
    ($($variant:ident => $text:literal,)*) => {
        /// An event's name, as ESL's `event plain NAME ...` subscribes to it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventName { $($variant,)* }

        impl EventName {
            pub const ALL: &'static [EventName] = &[$(EventName::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(EventName::$variant => $text,)* }
            }

            pub fn parse(s: &str) -> Option<EventName> {
                EventName::ALL.iter().copied().find(|e| e.name().eq_ignore_ascii_case(s))
            }
        }
    };
}

event_names! {
    ChannelCreate => "CHANNEL_CREATE",
    ChannelDestroy => "CHANNEL_DESTROY",
    ChannelState => "CHANNEL_STATE",
    ChannelCallstate => "CHANNEL_CALLSTATE",
    ChannelProgress => "CHANNEL_PROGRESS",
    ChannelProgressMedia => "CHANNEL_PROGRESS_MEDIA",
    ChannelAnswer => "CHANNEL_ANSWER",
    ChannelBridge => "CHANNEL_BRIDGE",
    ChannelUnbridge => "CHANNEL_UNBRIDGE",
    ChannelExecute => "CHANNEL_EXECUTE",
    ChannelExecuteComplete => "CHANNEL_EXECUTE_COMPLETE",
    ChannelHangup => "CHANNEL_HANGUP",
    ChannelHangupComplete => "CHANNEL_HANGUP_COMPLETE",
    Dtmf => "DTMF",
    Custom => "CUSTOM",
    Heartbeat => "HEARTBEAT",
    ReloadXml => "RELOADXML",
    Shutdown => "SHUTDOWN",
}

/// What every event carries about where and when it happened.
#[derive(Clone, Debug)]
pub struct Stamp<'a> {
    pub core_uuid: &'a str,
    pub hostname: &'a str,
    pub unix_us: u64,
    /// Seconds east of UTC, for Event-Date-Local.
    pub utc_offset: i32,
    pub sequence: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: EventName,
    /// Headers in order, `Event-Name` first.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Event {
    /// An event with the common headers FreeSWITCH puts on every one.
    pub fn new(name: EventName, stamp: &Stamp<'_>) -> Event {
        let mut e = Event {
            name,
            headers: Vec::with_capacity(48),
            body: None,
        };
        let secs = stamp.unix_us / 1_000_000;
        let local = CivilTime::from_unix(i64::try_from(secs).unwrap_or(i64::MAX), stamp.utc_offset);
        e.add("Event-Name", name.name());
        e.add("Core-UUID", stamp.core_uuid);
        e.add("FreeSWITCH-Hostname", stamp.hostname);
        e.add("FreeSWITCH-Switchname", stamp.hostname);
        e.add(
            "Event-Date-Local",
            &format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                local.year, local.month, local.mday, local.hour, local.minute, local.second
            ),
        );
        e.add("Event-Date-GMT", &http_date(secs));
        e.add("Event-Date-Timestamp", &stamp.unix_us.to_string());
        e.add("Event-Calling-File", "loopstart");
        e.add("Event-Sequence", &stamp.sequence.to_string());
        e
    }

    /// A channel event: the common headers, the channel's state and caller profile
    /// (`Caller-*`), and every channel variable as `variable_NAME`.
    pub fn for_channel(name: EventName, channel: &Channel, stamp: &Stamp<'_>) -> Event {
        let mut e = Event::new(name, stamp);
        e.add("Channel-State", channel.state().name());
        e.add("Channel-Call-State", channel.callstate.name());
        e.add(
            "Channel-State-Number",
            &state_number(channel.state()).to_string(),
        );
        e.add("Channel-Name", &channel.name);
        e.add("Unique-ID", &channel.uuid);
        e.add(
            "Call-Direction",
            channel.get("direction").as_deref().unwrap_or("inbound"),
        );
        e.add("Answer-State", answer_state(channel));
        if let Some(cause) = channel.hangup_cause {
            e.add("Hangup-Cause", cause.name());
        }
        let p = &channel.profile;
        for (name, value) in [
            ("Caller-Username", &p.username),
            ("Caller-Dialplan", &p.dialplan),
            ("Caller-Caller-ID-Name", &p.caller_id_name),
            ("Caller-Caller-ID-Number", &p.caller_id_number),
            ("Caller-Network-Addr", &p.network_addr),
            ("Caller-ANI", &p.ani),
            ("Caller-Destination-Number", &p.destination_number),
            ("Caller-Source", &p.source),
            ("Caller-Context", &p.context),
        ] {
            e.add(name, value);
        }
        e.add("Caller-Unique-ID", &channel.uuid);
        e.add("Caller-Channel-Name", &channel.name);
        for (name, value) in channel.variables() {
            e.add(&format!("variable_{name}"), value);
        }
        e
    }

    pub fn add(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// ESL's `text/event-plain` body: `Name: url-encoded value` lines, a blank line,
    /// and the body (announced by Content-Length) when there is one.
    pub fn to_plain(&self) -> String {
        let mut out = String::with_capacity(64 * self.headers.len());
        for (n, v) in &self.headers {
            out.push_str(n);
            out.push_str(": ");
            url_encode_into(&mut out, v);
            out.push('\n');
        }
        match &self.body {
            Some(b) => {
                let _ = write!(out, "Content-Length: {}\n\n{b}", b.len());
            }
            None => out.push('\n'),
        }
        out
    }
}

/// FreeSWITCH's numbering of CS_* states (the `Channel-State-Number` header).
fn state_number(s: ChannelState) -> u8 {
    use ChannelState::*;
    match s {
        New => 0,
        Init => 1,
        Routing => 2,
        SoftExecute => 3,
        Execute => 4,
        ExchangeMedia => 5,
        Park => 6,
        ConsumeMedia => 7,
        Hibernate => 8,
        Reset => 9,
        Hangup => 10,
        Reporting => 11,
        Destroy => 12,
    }
}

fn answer_state(c: &Channel) -> &'static str {
    match c.callstate {
        CallState::Hangup => "hangup",
        CallState::Active | CallState::Held | CallState::Unheld => "answered",
        CallState::Early => "early",
        _ => "ringing",
    }
}

/// Percent-encodes what FreeSWITCH's URL encoder does (its SWITCH_URL_UNSAFE set,
/// control and non-ASCII bytes), and `%` itself, so that decoding gives the value back.
fn url_encode_into(out: &mut String, value: &str) {
    const UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if !(b' '..=b'~').contains(&b) || UNSAFE.contains(&b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::channel::CallerProfile;
    use crate::switch::HangupCause;

    fn stamp() -> Stamp<'static> {
        Stamp {
            core_uuid: "core-1",
            hostname: "box",
            unix_us: 1_795_516_200_123_456,
            utc_offset: 3600,
            sequence: 42,
        }
    }

    fn channel() -> Channel {
        let mut c = Channel::new(
            "uuid-1".into(),
            "sofia/internal/1001@192.0.2.10".into(),
            CallerProfile {
                caller_id_name: "Front Desk".into(),
                caller_id_number: "1001".into(),
                destination_number: "9196".into(),
                context: "default".into(),
                ..CallerProfile::default()
            },
        );
        c.set("sip_user_agent", "Yealink T46U 66.86");
        c
    }

    #[test]
    fn channel_events_carry_freeswitchs_headers() {
        let mut c = channel();
        c.set_state(ChannelState::Execute).unwrap();
        c.callstate = CallState::Active;
        let e = Event::for_channel(EventName::ChannelAnswer, &c, &stamp());
        assert_eq!(e.headers[0], ("Event-Name".into(), "CHANNEL_ANSWER".into()));
        assert_eq!(e.header("Event-Date-Local"), Some("2026-11-24 11:30:00"));
        assert_eq!(
            e.header("Event-Date-GMT"),
            Some("Tue, 24 Nov 2026 10:30:00 GMT")
        );
        assert_eq!(e.header("Event-Date-Timestamp"), Some("1795516200123456"));
        assert_eq!(e.header("Event-Sequence"), Some("42"));
        assert_eq!(e.header("Channel-State"), Some("CS_EXECUTE"));
        assert_eq!(e.header("Channel-State-Number"), Some("4"));
        assert_eq!(e.header("Channel-Call-State"), Some("ACTIVE"));
        assert_eq!(e.header("Answer-State"), Some("answered"));
        assert_eq!(e.header("Caller-Destination-Number"), Some("9196"));
        assert_eq!(
            e.header("variable_sip_user_agent"),
            Some("Yealink T46U 66.86")
        );
        assert_eq!(e.header("Hangup-Cause"), None);
        c.hangup(HangupCause::UserBusy);
        let e = Event::for_channel(EventName::ChannelHangupComplete, &c, &stamp());
        assert_eq!(e.header("Hangup-Cause"), Some("USER_BUSY"));
        assert_eq!(e.header("Answer-State"), Some("hangup"));
    }

    #[test]
    fn the_plain_form_url_encodes_values_as_freeswitch_does() {
        let e = Event::for_channel(EventName::ChannelCreate, &channel(), &stamp());
        let plain = e.to_plain();
        assert!(plain.starts_with("Event-Name: CHANNEL_CREATE\n"), "{plain}");
        assert!(
            plain.contains("\nChannel-Name: sofia/internal/1001%40192.0.2.10\n"),
            "{plain}"
        );
        assert!(
            plain.contains("\nCaller-Caller-ID-Name: Front%20Desk\n"),
            "{plain}"
        );
        assert!(
            plain.contains("\nEvent-Date-Local: 2026-11-24%2011%3A30%3A00\n"),
            "{plain}"
        );
        assert!(plain.ends_with("\n\n"));
        let mut with_body = Event::new(EventName::Custom, &stamp());
        with_body.body = Some("hello".into());
        assert!(with_body.to_plain().ends_with("Content-Length: 5\n\nhello"));
    }

    #[test]
    fn names_parse_back() {
        for &n in EventName::ALL {
            assert_eq!(EventName::parse(n.name()), Some(n));
        }
        assert_eq!(
            EventName::parse("channel_answer"),
            Some(EventName::ChannelAnswer)
        );
        assert_eq!(EventName::parse("NO_SUCH_EVENT"), None);
    }
}
