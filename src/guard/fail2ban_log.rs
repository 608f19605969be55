//! Lines in mod_fail2ban's format, for those who run an external fail2ban too (the
//! `logfile` param). Pure: the caller appends `\n` and writes the line.
//!
//! Two modules of that name exist, both confirmed from their source:
//!
//! - `github` (the default): github.com/kurtabersold/freeswitch-mod_fail2ban
//!   (mod_fail2ban.c writes `strftime("%FT%T%z")`, then ` A registration failed
//!   User:%s IP:%s`), whose `filter-freeswitch.conf` people install:
//!   `failregex = A registration failed User:\d+ IP:<HOST>` (plus the same for
//!   "A preregistration was attempted" and "A registration was attempted").
//!   `2016-08-10T17:57:54-0400 A registration failed User:1001 IP:203.0.113.5`
//! - `freeswitch`: the module in FreeSWITCH's tree, src/mod/event_handlers/mod_fail2ban
//!   (`"%s user[%s] ip[%s] at[%04u-%02u-%02uT%02u:%02u:%02u.%06u%+03d%02d]"`); no
//!   filter for it is published; `ip\[<HOST>\]` matches it.
//!   `A registration failed user[1001] ip[203.0.113.5] at[2016-08-10T17:57:54.123456-0400]`
//!
//! Both modules write a line for every `sofia::register_attempt` and
//! `sofia::register_failure` event (the github one's filter bans on attempts too, so
//! busy phones count). loopstart writes one "A registration failed" line per failure the
//! guard counts, whatever its kind (a wrong INVITE password, an unknown user, an ACL
//! refusal, a wrong event socket password, a scanner), so an external fail2ban bans
//! what loopstart bans; successful registrations are not logged. The user field is what
//! the source tried (`1001`; the github filter's `\d+` matches numeric users only).
//!
//! Differences from the C code, on purpose: the user comes from the network, so
//! whitespace, control characters and brackets in it become `_` and it is cut to 64
//! bytes (a user `1 IP:198.51.100.1` or `x] ip[198.51.100.1` must not make a filter
//! ban someone else); FreeSWITCH's in-tree module prints the seconds of a half-hour
//! zone's offset as minutes (`+051800` for India), loopstart prints `+0530`.

use std::net::IpAddr;

use super::fail2ban::FailureKind;
use crate::civil::CivilTime;
pub use crate::config::fail2ban::LogFormat;

/// The events mod_fail2ban writes a line for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMessage {
    RegistrationAttempted,
    RegistrationFailed,
    /// `sofia::pre_register` (the github module only).
    PreregistrationAttempted,
    /// `sofia::wrong_call_state` (the in-tree module only).
    AbandonedCall,
}

impl LogMessage {
    /// The text, as the C code has it (the in-tree module's "Abandoned call from " has
    /// a trailing space, so its lines have two).
    pub fn text(self) -> &'static str {
        match self {
            LogMessage::RegistrationAttempted => "A registration was attempted",
            LogMessage::RegistrationFailed => "A registration failed",
            LogMessage::PreregistrationAttempted => "A preregistration was attempted",
            LogMessage::AbandonedCall => "Abandoned call from ",
        }
    }
}

/// The longest user kept, in bytes.
const USER_MAX: usize = 64;

/// The user as it may appear in a line: no whitespace, control characters or
/// brackets, at most 64 bytes.
pub fn sanitize_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len().min(USER_MAX));
    for c in user.chars() {
        let c = if c.is_whitespace() || c.is_control() || matches!(c, '[' | ']') {
            '_'
        } else {
            c
        };
        if out.len() + c.len_utf8() > USER_MAX {
            break;
        }
        out.push(c);
    }
    out
}

/// `+HHMM` for an offset east of UTC in seconds.
fn offset_text(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let a = offset_secs.unsigned_abs();
    format!("{sign}{:02}{:02}", a / 3600, a % 3600 / 60)
}

/// One line (without `\n`) at `unix_us` (wall clock, microseconds), in the local time
/// `utc_offset` seconds east of UTC.
pub fn line(
    format: LogFormat,
    msg: LogMessage,
    user: &str,
    ip: IpAddr,
    unix_us: u64,
    utc_offset: i32,
) -> String {
    let secs = i64::try_from(unix_us / 1_000_000).unwrap_or(i64::MAX);
    let t = CivilTime::from_unix(secs, utc_offset);
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.mday, t.hour, t.minute, t.second
    );
    let user = sanitize_user(user);
    let ip = crate::cidr::canonical(ip);
    match format {
        LogFormat::Github => format!(
            "{date}{} {} User:{user} IP:{ip}",
            offset_text(utc_offset),
            msg.text()
        ),
        LogFormat::Freeswitch => format!(
            "{} user[{user}] ip[{ip}] at[{date}.{:06}{}]",
            msg.text(),
            unix_us % 1_000_000,
            offset_text(utc_offset)
        ),
    }
}

/// The line for a failure the guard counted (see the module comment): every kind is
/// "A registration failed", as that is what the filters ban on.
pub fn failure_line(
    format: LogFormat,
    _kind: FailureKind,
    user: &str,
    ip: IpAddr,
    unix_us: u64,
    utc_offset: i32,
) -> String {
    line(
        format,
        LogMessage::RegistrationFailed,
        user,
        ip,
        unix_us,
        utc_offset,
    )
}

/// The line both modules write when loaded.
pub fn started_line(_format: LogFormat) -> &'static str {
    "Fail2ban was started"
}

/// The line written at shutdown (the in-tree module's spelling is its own).
pub fn stopping_line(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Github => "Fail2ban stopping",
        LogFormat::Freeswitch => "Fail2ban stoping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2016-08-10T21:57:54.123456Z.
    const AT: u64 = 1_470_866_274_123_456;
    const EDT: i32 = -4 * 3600;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// fail2ban's <HOST> for an address (its IPv4 and IPv6 alternatives, simplified).
    fn filter(failregex: &str) -> fancy_regex::Regex {
        let host = r"(?:::f{4,6}:)?(?P<host>(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F:]{2,}[0-9a-fA-F])";
        fancy_regex::Regex::new(&failregex.replace("<HOST>", host)).unwrap()
    }

    fn host(re: &fancy_regex::Regex, line: &str) -> Option<String> {
        re.captures(line)
            .unwrap()
            .map(|c| c.name("host").unwrap().as_str().to_string())
    }

    #[test]
    fn github_lines_are_strftime_then_the_message() {
        assert_eq!(
            line(
                LogFormat::Github,
                LogMessage::RegistrationFailed,
                "1001",
                ip("50.149.72.66"),
                AT,
                EDT
            ),
            "2016-08-10T17:57:54-0400 A registration failed User:1001 IP:50.149.72.66"
        );
        assert_eq!(
            line(
                LogFormat::Github,
                LogMessage::PreregistrationAttempted,
                "1002",
                ip("::ffff:50.149.72.66"),
                AT,
                0
            ),
            "2016-08-10T21:57:54+0000 A preregistration was attempted User:1002 IP:50.149.72.66"
        );
    }

    #[test]
    fn freeswitch_lines_are_the_in_tree_module_s() {
        assert_eq!(
            line(
                LogFormat::Freeswitch,
                LogMessage::RegistrationFailed,
                "1001",
                ip("203.0.113.5"),
                AT,
                EDT
            ),
            "A registration failed user[1001] ip[203.0.113.5] at[2016-08-10T17:57:54.123456-0400]"
        );
        assert_eq!(
            line(
                LogFormat::Freeswitch,
                LogMessage::AbandonedCall,
                "",
                ip("2001:db8::1"),
                AT,
                5 * 3600 + 1800
            ),
            "Abandoned call from  user[] ip[2001:db8::1] at[2016-08-11T03:27:54.123456+0530]"
        );
        assert_eq!(stopping_line(LogFormat::Freeswitch), "Fail2ban stoping");
        assert_eq!(started_line(LogFormat::Github), "Fail2ban was started");
    }

    #[test]
    fn the_published_filter_matches_and_captures_the_source() {
        // kurtabersold/freeswitch-mod_fail2ban's filter-freeswitch.conf.
        let re = filter(r"A registration failed User:\d+ IP:<HOST>");
        let l = failure_line(
            LogFormat::Github,
            FailureKind::RegisterAuth,
            "1001",
            ip("203.0.113.5"),
            AT,
            EDT,
        );
        assert_eq!(host(&re, &l).as_deref(), Some("203.0.113.5"));
        let l = failure_line(
            LogFormat::Github,
            FailureKind::InviteAuth,
            "2000",
            ip("2001:db8::7"),
            AT,
            EDT,
        );
        assert_eq!(host(&re, &l).as_deref(), Some("2001:db8::7"));
        let re = filter(r"ip\[<HOST>\]");
        let l = failure_line(
            LogFormat::Freeswitch,
            FailureKind::UnknownUser,
            "admin",
            ip("198.51.100.4"),
            AT,
            0,
        );
        assert_eq!(host(&re, &l).as_deref(), Some("198.51.100.4"));
    }

    #[test]
    fn a_user_from_the_network_cannot_frame_another_address() {
        let github = filter(r"A registration failed User:\d+ IP:<HOST>");
        let freeswitch = filter(r"ip\[<HOST>\]");
        for user in [
            "1 IP:198.51.100.1",
            "1\nA registration failed User:1 IP:198.51.100.1",
            "x] ip[198.51.100.1",
            "1\tIP:198.51.100.1",
        ] {
            let l = line(
                LogFormat::Github,
                LogMessage::RegistrationFailed,
                user,
                ip("203.0.113.5"),
                AT,
                0,
            );
            assert!(!l.contains('\n'));
            assert_ne!(host(&github, &l).as_deref(), Some("198.51.100.1"), "{l}");
            let l = line(
                LogFormat::Freeswitch,
                LogMessage::RegistrationFailed,
                user,
                ip("203.0.113.5"),
                AT,
                0,
            );
            assert_eq!(host(&freeswitch, &l).as_deref(), Some("203.0.113.5"), "{l}");
        }
        assert_eq!(sanitize_user(&"9".repeat(100)).len(), 64);
        assert_eq!(sanitize_user(&"é".repeat(40)), "é".repeat(32));
    }
}
