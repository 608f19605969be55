//! Header names: compact forms, canonical spellings, and which headers are lists.

use std::borrow::Cow;
use std::sync::OnceLock;

/// Compact forms (RFC 3261 §7.3.3 and later RFCs) and the canonical spelling of the
/// headers we know; lookups go through this so `i:` and `call-id:` are one header.
const KNOWN: &[(&str, Option<&str>)] = &[
    ("Via", Some("v")),
    ("From", Some("f")),
    ("To", Some("t")),
    ("Call-ID", Some("i")),
    ("CSeq", None),
    ("Contact", Some("m")),
    ("Max-Forwards", None),
    ("Expires", None),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("Content-Encoding", Some("e")),
    ("Subject", Some("s")),
    ("Supported", Some("k")),
    ("Event", Some("o")),
    ("Allow-Events", Some("u")),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Session-Expires", Some("x")),
    ("Identity", Some("y")),
    ("Accept-Contact", Some("a")),
    ("Reject-Contact", Some("j")),
    ("Request-Disposition", Some("d")),
    ("Identity-Info", Some("n")),
    ("Authorization", None),
    ("WWW-Authenticate", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Authentication-Info", None),
    ("User-Agent", None),
    ("Server", None),
    ("Allow", None),
    ("Require", None),
    ("Proxy-Require", None),
    ("Unsupported", None),
    ("Route", None),
    ("Record-Route", None),
    ("Min-Expires", None),
    ("Min-SE", None),
    ("Date", None),
    ("Accept", None),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Retry-After", None),
    ("Warning", None),
    ("Timestamp", None),
    ("Call-Info", None),
    ("Alert-Info", None),
    ("Error-Info", None),
    ("Organization", None),
    ("Priority", None),
    ("Reply-To", None),
    ("In-Reply-To", None),
    ("MIME-Version", None),
    ("Content-Disposition", None),
    ("Content-Language", None),
    ("P-Asserted-Identity", None),
    ("P-Preferred-Identity", None),
    ("Privacy", None),
    ("Path", None),
    ("RSeq", None),
    ("RAck", None),
    ("Replaces", None),
    ("Subscription-State", None),
    ("Diversion", None),
    ("Remote-Party-ID", None),
];

/// Headers whose values contain commas that do not separate list items.
const NOT_LISTS: &[&str] = &[
    "WWW-Authenticate",
    "Authorization",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Authentication-Info",
    "Date",
    "Retry-After",
    "Subject",
    "User-Agent",
    "Server",
    "Call-ID",
    "Organization",
    "Timestamp",
    "Warning",
];

/// The canonical spelling of a known header name (compact forms expanded), or None.
pub(crate) fn known_name(name: &str) -> Option<&'static str> {
    if name.len() == 1 {
        return KNOWN
            .iter()
            .find(|(_, c)| c.is_some_and(|c| c.eq_ignore_ascii_case(name)))
            .map(|(long, _)| *long);
    }
    // Every message looks up a dozen names several times: only compare same-length ones.
    static BY_LEN: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    let table = BY_LEN.get_or_init(|| {
        let mut t: Vec<Vec<&'static str>> = Vec::new();
        for (long, _) in KNOWN {
            if t.len() <= long.len() {
                t.resize(long.len() + 1, Vec::new());
            }
            t[long.len()].push(long);
        }
        t
    });
    table
        .get(name.len())?
        .iter()
        .find(|long| long.eq_ignore_ascii_case(name))
        .copied()
}

/// The canonical spelling of a header name: compact forms expanded, known names in
/// their RFC spelling, anything else as written.
pub(crate) fn canonical_name(name: &str) -> &str {
    known_name(name).unwrap_or(name)
}

/// A header name for storage: known names borrow the static spelling (no allocation
/// for the headers every message carries).
pub(crate) fn stored_name(name: &str) -> Cow<'static, str> {
    match known_name(name) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(name.to_string()),
    }
}

/// Whether a header's value is a comma-separated list (§7.3.1); for the headers in
/// NOT_LISTS a comma is just text.
pub(crate) fn is_list(canon: &str) -> bool {
    !NOT_LISTS.iter().any(|n| n.eq_ignore_ascii_case(canon))
}
