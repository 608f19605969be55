//! DTMF in SIP INFO (the "INFO method" phones and carriers offer beside RFC 2833
//! events): reading a digit out of a request's body and writing one, as mod_sofia
//! reads them (sofia.c, `sofia_handle_sip_i_info`):
//!
//! - `application/dtmf-relay`: `Signal=5` (a digit `0-9*#A-D`, or the RFC 4733 event
//!   number 0-15) and an optional `Duration=160` in milliseconds (none, 0 or less: the
//!   default 250 ms); spaces after `=` are tolerated (VegaStream sends them).
//! - `application/dtmf`: the event number alone.
//!
//! Any other INFO is not DTMF and is only answered.

pub use crate::sip::dialog::Dtmf as InfoDtmf;
use crate::sip::wire::Request;

/// FreeSWITCH's default DTMF duration (2,000 samples at 8 kHz).
pub const DEFAULT_DURATION_MS: u32 = 250;
/// What `Duration=` may say at most (a key held for 10 s is not a digit).
const MAX_DURATION_MS: u32 = 10_000;

/// RFC 4733's events 0-15, in order.
const EVENTS: &[u8; 16] = b"0123456789*#ABCD";

/// What an INFO's body says: `None` when it is not DTMF at all, `Some(Err)` when it
/// claims to be and cannot be read.
pub fn parse(req: &Request) -> Option<Result<InfoDtmf, String>> {
    let ct = req.headers.get("Content-Type")?;
    let media = ct.split(';').next().unwrap_or_default().trim();
    let body = String::from_utf8_lossy(&req.body);
    if media.eq_ignore_ascii_case("application/dtmf-relay") {
        Some(relay(&body))
    } else if media.eq_ignore_ascii_case("application/dtmf") {
        Some(
            event(body.trim())
                .map(|digit| InfoDtmf {
                    digit,
                    duration_ms: DEFAULT_DURATION_MS,
                })
                .ok_or_else(|| {
                    format!(
                        "application/dtmf body {:?} is not an event 0-15",
                        body.trim()
                    )
                }),
        )
    } else {
        None
    }
}

fn relay(body: &str) -> Result<InfoDtmf, String> {
    let value = |key: &str| {
        body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    };
    let signal = value("Signal").ok_or("no Signal= in the dtmf-relay body")?;
    let digit = match signal.chars().next() {
        Some(c @ ('*' | '#')) => c,
        Some(c) if ('A'..='D').contains(&c.to_ascii_uppercase()) && signal.len() == 1 => {
            c.to_ascii_uppercase()
        }
        _ => event(signal).ok_or_else(|| format!("Signal={signal:?} is not a DTMF digit"))?,
    };
    let duration_ms = value("Duration")
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| *d > 0)
        .map_or(DEFAULT_DURATION_MS, |d| d.min(MAX_DURATION_MS));
    Ok(InfoDtmf { digit, duration_ms })
}

/// A digit given as its RFC 4733 event number (`5`, `10` for `*`).
fn event(text: &str) -> Option<char> {
    let n: usize = text.parse().ok()?;
    EVENTS.get(n).map(|b| char::from(*b))
}

/// Puts `dtmf` in `req` as `application/dtmf-relay`, the form mod_sofia sends.
pub fn write(req: &mut Request, dtmf: InfoDtmf) {
    req.headers.push("Content-Type", "application/dtmf-relay");
    req.body = format!("Signal={}\r\nDuration={}\r\n", dtmf.digit, dtmf.duration_ms).into_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{parse_message, Framing, Limits, Message};

    fn info(content_type: &str, body: &str) -> Request {
        let text = format!(
            "INFO sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKi\r\n\
             From: <sip:1002@x>;tag=a\r\nTo: <sip:1001@x>;tag=b\r\nCall-ID: c\r\nCSeq: 2 INFO\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse_message(text.as_bytes(), Framing::Datagram, &Limits::default()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn digit(d: char, ms: u32) -> Option<Result<InfoDtmf, String>> {
        Some(Ok(InfoDtmf {
            digit: d,
            duration_ms: ms,
        }))
    }

    #[test]
    fn dtmf_relay_bodies_are_read_as_mod_sofia_reads_them() {
        let r = |body| parse(&info("application/dtmf-relay", body));
        assert_eq!(r("Signal=5\r\nDuration=160\r\n"), digit('5', 160));
        assert_eq!(r("Signal= #\r\nDuration= 100"), digit('#', 100));
        assert_eq!(r("Signal=*\r\n"), digit('*', DEFAULT_DURATION_MS));
        assert_eq!(
            r("signal=b\r\nduration=0\r\n"),
            digit('B', DEFAULT_DURATION_MS)
        );
        assert_eq!(
            r("Signal=11\r\nDuration=99999\r\n"),
            digit('#', MAX_DURATION_MS)
        );
        assert!(matches!(r("Signal=x\r\n"), Some(Err(_))));
        assert!(matches!(r("Signal=16\r\n"), Some(Err(_))));
        assert!(matches!(r("Duration=100\r\n"), Some(Err(_))));
    }

    #[test]
    fn application_dtmf_is_an_event_number_and_other_infos_are_not_dtmf() {
        assert_eq!(
            parse(&info("application/dtmf", "10")),
            digit('*', DEFAULT_DURATION_MS)
        );
        assert!(matches!(
            parse(&info("application/dtmf", "#")),
            Some(Err(_))
        ));
        assert_eq!(parse(&info("application/media_control+xml", "<x/>")), None);
    }

    #[test]
    fn what_we_write_reads_back() {
        let mut req = info("text/plain", "");
        req.headers = Default::default();
        write(
            &mut req,
            InfoDtmf {
                digit: 'D',
                duration_ms: 120,
            },
        );
        let text = String::from_utf8(req.to_bytes()).unwrap_or_default();
        assert!(text.contains("Signal=D\r\nDuration=120\r\n"), "{text}");
        assert_eq!(parse(&req), digit('D', 120));
    }
}
