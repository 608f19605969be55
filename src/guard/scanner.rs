//! Scanner detection: a pure function over a few header values of a request, so it
//! depends on no SIP parser type. Two kinds of evidence:
//!
//! - the User-Agent contains a configured pattern (ASCII case-insensitive substring;
//!   `friendly-scanner` is SIPVicious' default, see config::flood's list);
//! - SIPVicious' fingerprints, which survive its compact mode (`-c`, which sends no
//!   User-Agent at all) and a patched User-Agent. Read from its source
//!   (`sipvicious/libs/svhelper.py` `makeRequest` and `createTag`, `svmap.py`,
//!   `svwar.py`, `svcrack.py`, Debian 0.3.3 and upstream 0.3.7 alike):
//!   - the From tag is `createTag(text)`: the hex of `text`, a 0x01 byte, and a random
//!     32-bit number in decimal. svwar puts the extension tried there (it reads it
//!     back from the reply's To tag), svmap the target's address and port in hex,
//!     svcrack `user:password`. A hex tag that decodes to printable text, one 0x01
//!     and at least five digits is no accident (a random 16-hex-digit tag does so with
//!     odds below 1 in 10^8);
//!   - svcrack's first REGISTER of each extension carries the fixed tag `3206210844`;
//!   - `1.1.1.1` as a placeholder host: svmap's From and To `sip:100@1.1.1.1`, the
//!     Contact `sip:123@1.1.1.1` that svcrack leaves at makeRequest's default;
//!   - svmap's From display name `"sipvicious"` (its `--fromname` default).
//!
//! Other habits were read and deliberately not used, being too common in real phones
//! to ban on: From and To equal (svwar and svcrack write `"EXT"<sip:EXT@domain>` in
//! both, as any REGISTER does), an all-digit Call-ID (random 32 or 80 bits), a Via
//! branch `z9hG4bK-<digits>;rport`, `Accept: application/sdp` on every method, and the
//! first svwar request to a random 32-bit extension (that one is an unknown user, a
//! failure fail2ban counts anyway).

use std::fmt;

use crate::config::flood::{ScannerAction, ScannerConfig};

/// The header values classification looks at, as received (full header values, any
/// display name and parameters included). Absent headers are `None` or `""`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestView<'a> {
    pub user_agent: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a str,
    pub contact: Option<&'a str>,
}

/// Why a request was taken for a scanner's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The User-Agent contains this configured pattern.
    UserAgent { pattern: String },
    /// The From tag is SIPVicious' encoding (hex of text, 0x01, digits).
    SipviciousTag,
    /// The From tag is svcrack's fixed first tag.
    SvcrackTag,
    /// A URI in this header has SIPVicious' placeholder host 1.1.1.1.
    PlaceholderHost { header: &'static str },
    /// A display name "sipvicious" in this header (svmap's default).
    SipviciousName { header: &'static str },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UserAgent { pattern } => write!(f, "User-Agent contains {pattern:?}"),
            Reason::SipviciousTag => {
                f.write_str("From tag is SIPVicious' encoding (hex of text, 0x01, digits)")
            }
            Reason::SvcrackTag => f.write_str("From tag 3206210844 is svcrack's"),
            Reason::PlaceholderHost { header } => {
                write!(f, "{header} has SIPVicious' placeholder host 1.1.1.1")
            }
            Reason::SipviciousName { header } => {
                write!(f, "{header} names \"sipvicious\"")
            }
        }
    }
}

/// A recognised scanner request, and what the configuration says to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerHit {
    pub reason: Reason,
    pub action: ScannerAction,
}

/// Classifies requests by the `<scanners>` configuration.
#[derive(Clone, Debug)]
pub struct Scanner {
    action: ScannerAction,
    /// ASCII lower-case, non-empty.
    patterns: Vec<String>,
    fingerprints: bool,
}

/// svcrack's first tag (`localtag = '3206210844'` in svcrack.py's Register).
const SVCRACK_TAG: &str = "3206210844";
/// Digits createTag appends at least (a random 32-bit number is shorter than 5 digits
/// once in 430,000 draws: such a request goes unrecognised).
const MIN_TAG_DIGITS: usize = 5;
/// Longer tags are not decoded (SIPVicious' are under 200 hex digits).
const MAX_TAG_LEN: usize = 512;

impl Scanner {
    pub fn new(cfg: &ScannerConfig) -> Scanner {
        Scanner {
            action: cfg.action,
            patterns: cfg
                .user_agents
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
            fingerprints: cfg.fingerprints,
        }
    }

    pub fn action(&self) -> ScannerAction {
        self.action
    }

    /// `Some` when the request looks like a scanner's: the first configured pattern
    /// found in the User-Agent, else (fingerprints on) the first SIPVicious
    /// fingerprint. No allocation unless it is a hit.
    pub fn classify(&self, req: &RequestView<'_>) -> Option<ScannerHit> {
        let hit = |reason| {
            Some(ScannerHit {
                reason,
                action: self.action,
            })
        };
        if let Some(ua) = req.user_agent {
            if let Some(p) = self.patterns.iter().find(|p| contains_ci(ua, p)) {
                return hit(Reason::UserAgent { pattern: p.clone() });
            }
        }
        if !self.fingerprints {
            return None;
        }
        if let Some(tag) = tag(req.from) {
            if tag == SVCRACK_TAG {
                return hit(Reason::SvcrackTag);
            }
            if is_sipvicious_tag(tag) {
                return hit(Reason::SipviciousTag);
            }
        }
        let headers = [
            ("From", Some(req.from)),
            ("To", Some(req.to)),
            ("Contact", req.contact),
        ];
        for (header, value) in headers {
            let Some(value) = value else { continue };
            if has_placeholder_host(value) {
                return hit(Reason::PlaceholderHost { header });
            }
            if header != "Contact" && contains_ci(value, "\"sipvicious\"") {
                return hit(Reason::SipviciousName { header });
            }
        }
        None
    }
}

/// ASCII case-insensitive substring test; `needle` is lower-case.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The `tag` parameter of a From/To header value (`"A" <sip:a@b>;tag=x`, or
/// `sip:a@b;tag=x` without angle brackets).
fn tag(header: &str) -> Option<&str> {
    let params = match header.rfind('>') {
        Some(i) => &header[i + 1..],
        // Without brackets, the URI's own parameters are the header's.
        None => header.split_once(';').map_or("", |(_, p)| p),
    };
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

/// `createTag`'s output: hex digits that decode to printable ASCII, one 0x01, then
/// at least [`MIN_TAG_DIGITS`] decimal digits.
fn is_sipvicious_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    if b.len() % 2 != 0 || b.len() > MAX_TAG_LEN || b.len() < 2 * (2 + MIN_TAG_DIGITS) {
        return false;
    }
    let (mut text, mut separator, mut digits) = (0usize, false, 0usize);
    for pair in b.chunks_exact(2) {
        let (Some(hi), Some(lo)) = (hex(pair[0]), hex(pair[1])) else {
            return false;
        };
        let byte = hi << 4 | lo;
        if !separator {
            match byte {
                0x01 if text > 0 => separator = true,
                0x20..=0x7e => text += 1,
                _ => return false,
            }
        } else if byte.is_ascii_digit() {
            digits += 1;
        } else {
            return false;
        }
    }
    separator && digits >= MIN_TAG_DIGITS
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A URI host `1.1.1.1` (`...@1.1.1.1` followed by the end, `>`, `;`, `:` or space).
fn has_placeholder_host(value: &str) -> bool {
    const HOST: &str = "@1.1.1.1";
    value.match_indices(HOST).any(|(i, _)| {
        matches!(
            value.as_bytes().get(i + HOST.len()),
            None | Some(b'>' | b';' | b':' | b' ' | b'\t' | b',')
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> Scanner {
        Scanner::new(&ScannerConfig::default())
    }

    /// SIPVicious' createTag: hex of `text`, 0x01, the decimal `rnd`.
    fn create_tag(text: &str, rnd: u32) -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(1);
        bytes.extend(rnd.to_string().bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn reason(req: &RequestView<'_>) -> Option<String> {
        scanner().classify(req).map(|h| h.reason.to_string())
    }

    #[test]
    fn sipvicious_default_user_agent_and_other_scanners() {
        for (ua, pattern) in [
            ("friendly-scanner", "friendly-scanner"),
            ("Friendly-Scanner/1.0", "friendly-scanner"),
            ("sipvicious 0.3.7", "sipvicious"),
            ("sipcli/v1.8", "sipcli"),
            ("sip-scan", "sip-scan"),
            ("sundayddr", "sundayddr"),
            ("iWar", "iwar"),
            ("SIVuS", "sivus"),
            ("VaxSIPUserAgent/3.1", "vaxsipuseragent"),
            ("pplsip", "pplsip"),
            ("SIP scanner 2", "scanner"),
        ] {
            let req = RequestView {
                user_agent: Some(ua),
                from: "<sip:100@example.com>;tag=abc",
                to: "<sip:100@example.com>",
                contact: None,
            };
            let hit = scanner().classify(&req).expect(ua);
            assert_eq!(
                hit.reason,
                Reason::UserAgent {
                    pattern: pattern.into()
                },
                "{ua}"
            );
            assert_eq!(hit.action, ScannerAction::Ban);
        }
    }

    #[test]
    fn configured_patterns_and_action() {
        let s = Scanner::new(&ScannerConfig {
            action: ScannerAction::Count,
            user_agents: vec!["EvilTool".into(), "  ".into()],
            fingerprints: false,
        });
        let req = RequestView {
            user_agent: Some("my eviltool v2"),
            ..RequestView::default()
        };
        assert_eq!(
            s.classify(&req),
            Some(ScannerHit {
                reason: Reason::UserAgent {
                    pattern: "eviltool".into()
                },
                action: ScannerAction::Count,
            })
        );
        // The built-in list is replaced, and an empty pattern matches nothing.
        let req = RequestView {
            user_agent: Some("friendly-scanner"),
            ..RequestView::default()
        };
        assert_eq!(s.classify(&req), None);
        // Fingerprints off: svmap in compact mode passes.
        let tag = create_tag("c00002011388", 12345678);
        let from = format!("\"sipvicious\"<sip:100@1.1.1.1>;tag={tag}");
        let req = RequestView {
            user_agent: None,
            from: &from,
            to: "\"sipvicious\"<sip:100@1.1.1.1>",
            contact: None,
        };
        assert_eq!(s.classify(&req), None);
        assert!(scanner().classify(&req).is_some());
    }

    /// svmap's OPTIONS, as makeRequest writes it with svmap's defaults.
    #[test]
    fn svmap_probe_is_recognised_without_its_user_agent() {
        let tag = create_tag("c00002011388", 3_001_002_003);
        let from = format!("\"sipvicious\"<sip:100@1.1.1.1>;tag={tag}");
        let to = "\"sipvicious\"<sip:100@1.1.1.1>";
        let req = RequestView {
            user_agent: None, // compact mode: no User-Agent, From is `f:`
            from: &from,
            to,
            contact: Some("sip:100@192.0.2.66:5060"),
        };
        assert_eq!(
            reason(&req).as_deref(),
            Some("From tag is SIPVicious' encoding (hex of text, 0x01, digits)")
        );
        // Another tool with svmap's defaults but an ordinary tag.
        let req = RequestView {
            from: "\"sipvicious\"<sip:100@1.1.1.1>;tag=as58f4201b",
            ..req
        };
        assert_eq!(
            scanner().classify(&req).map(|h| h.reason),
            Some(Reason::PlaceholderHost { header: "From" })
        );
        let req = RequestView {
            from: "\"sipvicious\"<sip:100@example.com>;tag=as58f4201b",
            to: "<sip:100@example.com>",
            ..req
        };
        assert_eq!(reason(&req).as_deref(), Some("From names \"sipvicious\""));
    }

    /// svwar's REGISTER for extension 1001: From and To `"1001"<sip:1001@domain>`, tag
    /// createTag("1001").
    #[test]
    fn svwar_enumeration_is_recognised_by_its_tag() {
        for ext in ["1001", "3735928559", "alice"] {
            let from = format!(
                "\"{ext}\"<sip:{ext}@192.0.2.10>;tag={}",
                create_tag(ext, 917_263_541)
            );
            let to = format!("\"{ext}\"<sip:{ext}@192.0.2.10>");
            let contact = format!("sip:{ext}@192.0.2.10");
            let req = RequestView {
                user_agent: Some("Yealink SIP-T46S 66.86.0.15"), // even with a borrowed UA
                from: &from,
                to: &to,
                contact: Some(&contact),
            };
            assert_eq!(
                scanner().classify(&req).map(|h| h.reason),
                Some(Reason::SipviciousTag),
                "{from}"
            );
        }
    }

    /// svcrack: the first REGISTER with tag 3206210844 and Contact sip:123@1.1.1.1,
    /// the answer to the challenge with createTag("user:password").
    #[test]
    fn svcrack_is_recognised_by_its_tags_and_contact() {
        let req = RequestView {
            user_agent: None,
            from: "\"1001\" <sip:1001@192.0.2.10>;tag=3206210844",
            to: "\"1001\" <sip:1001@192.0.2.10>",
            contact: Some("sip:123@1.1.1.1"),
        };
        assert_eq!(
            scanner().classify(&req).map(|h| h.reason),
            Some(Reason::SvcrackTag)
        );
        let from = format!(
            "\"1001\" <sip:1001@192.0.2.10>;tag={}",
            create_tag("1001:password123", 42_424_242)
        );
        let req = RequestView { from: &from, ..req };
        assert_eq!(
            scanner().classify(&req).map(|h| h.reason),
            Some(Reason::SipviciousTag)
        );
        let req = RequestView {
            from: "\"1001\" <sip:1001@192.0.2.10>;tag=1234abcd",
            ..req
        };
        assert_eq!(
            scanner().classify(&req).map(|h| h.reason),
            Some(Reason::PlaceholderHost { header: "Contact" })
        );
    }

    /// What real phones and servers send passes.
    #[test]
    fn real_user_agents_and_tags_pass() {
        let cases = [
            (
                "Yealink SIP-T46S 66.86.0.15",
                "\"Reception\" <sip:1001@pbx.example.com>;tag=1318047416",
                "<sip:1001@192.168.1.20:5060>",
            ),
            (
                "PolycomVVX-VVX_411-UA/6.3.1.8427",
                "\"1002\" <sip:1002@10.0.0.1>;tag=4D8E6F3A-29C1B5E7",
                "<sip:1002@10.0.0.52:5060;transport=udp>",
            ),
            (
                "Grandstream GXP2170 1.0.11.23",
                "\"1003\" <sip:1003@10.0.0.1>;tag=1791823041",
                "<sip:1003@10.0.0.53:5062;transport=udp>",
            ),
            (
                "Linphone/5.2.0 (belle-sip/5.2.0)",
                "<sip:alice@example.org>;tag=wKzd3~q6V",
                "<sip:alice@192.0.2.7:5060;transport=udp>;+sip.instance=\"<urn:uuid:1>\"",
            ),
            (
                "baresip v3.10.1 (x86_64/linux)",
                "<sip:bob@example.org>;tag=6a8c1f5e2c3e9b40",
                "<sip:bob-0x55@192.0.2.8:41000;transport=udp>",
            ),
            (
                "Z 5.6.2 v2.10.19.9",
                "<sip:100@example.org;transport=UDP>;tag=a0c4d7e9",
                "<sip:100@192.0.2.9:52370;rinstance=6b01f9a3c8d2e1b0>",
            ),
            (
                "MicroSIP/3.21.3",
                "<sip:101@example.org>;tag=6f5d0b3e4c794b5d8d1f0a6bcf1e9d2e",
                "<sip:101@192.0.2.10:62144;ob>",
            ),
            (
                "FreeSWITCH-mod_sofia/1.10.11",
                "<sip:gw+carrier@198.51.100.1>;tag=Fm2KQ8g3p0NBe",
                "<sip:gw+carrier@198.51.100.1:5080>",
            ),
            (
                "Asterisk PBX 20.5.0",
                "\"asterisk\" <sip:asterisk@198.51.100.2>;tag=as5c1e2f3a",
                "<sip:asterisk@198.51.100.2:5060>",
            ),
            (
                "Cisco-SIPGateway/IOS-15.x",
                "<sip:+15551234567@198.51.100.3>;tag=1A2B3C4D-5E6F",
                "<sip:+15551234567@198.51.100.3:5060>",
            ),
            (
                "PJSUA v2.14 Linux-6.1/x86_64/glibc-2.36",
                "<sip:7000@example.org>;tag=2f4d1c29-5e0a-4d8c-9b7e-31a6f2c8e0d4",
                "<sip:7000@192.0.2.11:5060;ob>",
            ),
        ];
        for (ua, from, contact) in cases {
            let req = RequestView {
                user_agent: Some(ua),
                from,
                to: "<sip:1001@pbx.example.com>",
                contact: Some(contact),
            };
            assert_eq!(scanner().classify(&req), None, "{ua}");
        }
        // A 1.1.1.1 that is not a host, and a tag param in the URI with brackets.
        let req = RequestView {
            user_agent: None,
            from: "<sip:1.1.1.10@example.org;tag=3206210844>;tag=x",
            to: "<sip:100@11.1.1.1>",
            contact: Some("<sip:u@example.org;v=1.1.1.1>"),
        };
        assert_eq!(scanner().classify(&req), None);
    }

    /// Random hex tags (what many stacks send) almost never look like createTag's: no
    /// false positive in 200,000 tags of 8 to 32 hex digits.
    #[test]
    fn random_hex_tags_are_not_taken_for_sipvicious() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..200_000 {
            let len = 8 + (i % 13) * 2;
            let tag: String = (0..len)
                .map(|_| char::from(b"0123456789abcdef"[(next() % 16) as usize]))
                .collect();
            assert!(!is_sipvicious_tag(&tag), "{tag}");
        }
    }

    #[test]
    fn tag_parsing() {
        assert_eq!(tag("\"a;b\" <sip:a@b;x=y>;tag=123;foo"), Some("123"));
        assert_eq!(tag("sip:a@b;TAG = 9 "), Some("9"));
        assert_eq!(tag("<sip:a@b;tag=inside>"), None);
        assert_eq!(tag("sip:a@b"), None);
        assert_eq!(tag("<sip:a@b>;tag="), None);
        assert!(is_sipvicious_tag(&create_tag("1", 12345)));
        assert!(is_sipvicious_tag(&create_tag("1", 12345).to_uppercase()));
        assert!(!is_sipvicious_tag(&create_tag("1", 1234)));
        assert!(!is_sipvicious_tag(&create_tag("", 123456)));
        assert!(!is_sipvicious_tag(&format!("{}0", create_tag("1", 12345))));
        assert!(!is_sipvicious_tag(&format!("{}41", create_tag("1", 12345))));
        assert!(!is_sipvicious_tag(&"ab".repeat(300)));
        assert!(!is_sipvicious_tag("zz01313233343536"));
    }
}
