//! Bytes to [`Message`], in one pass over the header section.
//!
//! The header section is walked line by line exactly once: each line is checked
//! (length, control characters, UTF-8), split at its colon and appended, with folded
//! continuation lines joined onto the header before them. Nothing is parsed further
//! here: typed views are built on demand by the accessors on [`Headers`].
//!
//! A failure after the start line keeps reading the header section (cheaply, within the
//! same limits) so the error can carry the readable headers in `salvaged`.

use super::error::{ParseError, ParseErrorKind as K};
use super::header::is_token_byte;
use super::message::{Headers, Message, Method, Request, Response, StatusLine};
use super::names::stored_name;
use super::uri::Uri;
use super::Limits;

/// How a message is delimited by its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: one datagram is one message; a missing Content-Length means the body runs to
    /// the end of the datagram; bytes beyond Content-Length are discarded.
    Datagram,
    /// TCP/TLS: Content-Length is mandatory (absent means 0).
    Stream,
}

/// One physical line: `buf[start..end]` is its text without CR LF, `next` where the
/// following line starts. None when no LF ends it.
pub(crate) fn next_line(buf: &[u8], start: usize) -> Option<(usize, usize)> {
    let off = buf.get(start..)?.iter().position(|&b| b == b'\n')?;
    let nl = start + off;
    let end = if nl > start && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

pub(crate) fn err(kind: K, detail: impl Into<String>) -> ParseError {
    ParseError::new(kind, detail)
}

/// At most 60 characters of `s`, for error details.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Bytes that may not appear in a start line or header line (HTAB is allowed).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Checks a line's bytes and returns it as text.
fn line_text<'a>(line: &'a [u8], limits: &Limits) -> Result<&'a str, ParseError> {
    if line.len() > limits.max_line_bytes {
        return Err(err(
            K::LineTooLong,
            format!("line longer than {} bytes", limits.max_line_bytes),
        ));
    }
    // Branch-free scan first (it vectorises); find the culprit only on failure.
    if line.iter().fold(false, |bad, &b| bad | is_ctl(b)) {
        let b = line.iter().copied().find(|&b| is_ctl(b)).unwrap_or(0);
        return Err(err(
            K::BadHeaderLine,
            format!("control character 0x{b:02x} in a header line"),
        ));
    }
    std::str::from_utf8(line).map_err(|_| err(K::BadEncoding, "header line is not UTF-8"))
}

/// `s` without leading and trailing SP/HTAB (LWS after unfolding).
fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    s.get(start..end).unwrap_or("")
}

/// The header section, read as far as possible.
struct HeadScan {
    headers: Headers,
    /// The first problem met; reading went on past it where it could.
    first_error: Option<ParseError>,
    /// Where the body starts; None when no blank line was found (or reading stopped).
    body_start: Option<usize>,
}

fn scan_headers(buf: &[u8], mut pos: usize, limits: &Limits) -> HeadScan {
    // Values are at most the rest of the buffer.
    let mut headers = Headers::with_capacity(16, buf.len().saturating_sub(pos));
    let mut first_error: Option<ParseError> = None;
    let mut note = |e: ParseError| {
        if first_error.is_none() {
            first_error = Some(e);
        }
    };
    // Whether the last field pushed may still be continued by a folded line.
    let mut open = false;
    let mut count = 0usize;
    let mut body_start = None;
    while let Some((end, next)) = next_line(buf, pos) {
        let raw = &buf[pos..end];
        pos = next;
        if raw.is_empty() {
            body_start = Some(next);
            break;
        }
        let line = match line_text(raw, limits) {
            Ok(l) => l,
            Err(e) => {
                note(e);
                continue;
            }
        };
        if raw[0] == b' ' || raw[0] == b'\t' {
            // Folded continuation (§7.3.1): one SP replaces the line break and LWS.
            match headers.last_len().filter(|_| open) {
                Some(len) if len + line.len() > limits.max_line_bytes => note(err(
                    K::LineTooLong,
                    format!("folded header longer than {} bytes", limits.max_line_bytes),
                )),
                Some(len) => {
                    let more = trim_lws(line);
                    if len > 0 && !more.is_empty() {
                        headers.extend_last(" ");
                    }
                    headers.extend_last(more);
                }
                None => note(err(K::BadHeaderLine, "continuation line before any header")),
            }
            continue;
        }
        open = false;
        let Some((name, value)) = line.split_once(':') else {
            note(err(
                K::BadHeaderLine,
                format!("header line without a colon: {:?}", truncate(line)),
            ));
            continue;
        };
        let name = trim_lws(name);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            note(err(
                K::BadHeaderLine,
                format!("bad header name {:?}", truncate(name)),
            ));
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            note(err(
                K::TooManyHeaders,
                format!("more than {} headers", limits.max_headers),
            ));
            break;
        }
        headers.push_named(stored_name(name), trim_lws(value));
        open = true;
    }
    HeadScan {
        headers,
        first_error,
        body_start,
    }
}

/// Parses one complete message.
pub fn parse_message(buf: &[u8], framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
    let too_large = buf.len() > limits.max_message_bytes;
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let lead = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    // An oversized message is still read up to the limit, to salvage its headers.
    let buf = &buf[lead..buf.len().min(limits.max_message_bytes.max(lead))];
    let oversize = || {
        err(
            K::TooLarge,
            format!(
                "message exceeds the limit of {} bytes",
                limits.max_message_bytes
            ),
        )
    };

    let Some((start_end, after_start)) = next_line(buf, 0) else {
        return Err(if too_large {
            oversize()
        } else if buf.is_empty() {
            err(K::Incomplete, "empty message")
        } else {
            err(K::Incomplete, "no line break after the start line")
        });
    };
    let start = line_text(&buf[..start_end], limits).and_then(parse_start_line);

    let scan = scan_headers(buf, after_start, limits);
    // Responses are never answered, so only requests (or what may be one) salvage.
    let response = buf.len() >= 4 && buf[..4].eq_ignore_ascii_case(b"SIP/");
    let salvage = |mut e: ParseError, headers: Headers| {
        if !response && !headers.is_empty() {
            e.salvaged = Some(headers);
        }
        e
    };
    let start = match (too_large, start) {
        (true, _) => return Err(salvage(oversize(), scan.headers)),
        (false, Err(e)) => return Err(salvage(e, scan.headers)),
        (false, Ok(start)) => start,
    };
    if let Some(e) = scan.first_error {
        return Err(salvage(e, scan.headers));
    }
    let Some(body_start) = scan.body_start else {
        return Err(salvage(
            err(K::Incomplete, "no blank line ends the headers"),
            scan.headers,
        ));
    };

    let rest = &buf[body_start..];
    let declared = match content_length(&scan.headers) {
        Ok(d) => d,
        Err(e) => return Err(salvage(e, scan.headers)),
    };
    let body = match (declared, framing) {
        (Some(n), _) if n > rest.len() => {
            let e = err(
                K::TruncatedBody,
                format!("Content-Length {n} but only {} body bytes", rest.len()),
            );
            return Err(salvage(e, scan.headers));
        }
        (Some(n), _) => rest[..n].to_vec(),
        (None, Framing::Datagram) => rest.to_vec(),
        (None, Framing::Stream) => Vec::new(),
    };
    let headers = scan.headers;
    Ok(match start {
        Start::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        Start::Response(status) => Message::Response(Response {
            status,
            headers,
            body,
        }),
    })
}

enum Start {
    Request(Method, Uri),
    Response(StatusLine),
}

fn parse_start_line(line: &str) -> Result<Start, ParseError> {
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(err(
                K::BadVersion,
                format!("unsupported version {:?}", truncate(version)),
            ));
        }
        let code = parts.next().unwrap_or("");
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                K::BadStartLine,
                format!("bad status code {:?}", truncate(code)),
            ));
        }
        let code: u16 = code
            .parse()
            .map_err(|_| err(K::BadStartLine, "bad status code"))?;
        if !(100..=699).contains(&code) {
            return Err(err(
                K::BadStartLine,
                format!("status code {code} out of range"),
            ));
        }
        let reason = parts.next().unwrap_or("").to_string();
        return Ok(Start::Response(StatusLine { code, reason }));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err(
            K::BadStartLine,
            format!(
                "request line must be METHOD SP Request-URI SP SIP/2.0: {:?}",
                truncate(line)
            ),
        ));
    };
    if method.is_empty() || uri.is_empty() || version.is_empty() {
        return Err(err(
            K::BadStartLine,
            format!("request line has an empty element: {:?}", truncate(line)),
        ));
    }
    if !method.bytes().all(is_token_byte) {
        return Err(err(
            K::BadStartLine,
            format!("bad method {:?}", truncate(method)),
        ));
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(err(
            K::BadVersion,
            format!("unsupported version {:?}", truncate(version)),
        ));
    }
    let uri =
        Uri::parse(uri).map_err(|e| err(K::BadUri, format!("bad Request-URI: {}", e.detail)))?;
    if !uri.headers.is_empty() {
        // RFC 3261 §19.1.1, table 1: headers are not allowed in a Request-URI.
        return Err(err(K::BadUri, "bad Request-URI: it carries ?headers"));
    }
    Ok(Start::Request(Method::from_token(method), uri))
}

/// Parses a Content-Length value (digits only; at most 9 of them).
pub(crate) fn content_length_value(v: &str) -> Result<usize, ParseError> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            K::BadContentLength,
            format!("bad Content-Length {:?}", truncate(v)),
        ));
    }
    v.parse()
        .map_err(|_| err(K::BadContentLength, "bad Content-Length"))
}

/// The Content-Length, if any; several must agree.
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for h in headers.iter().filter(|h| h.name == "Content-Length") {
        let n = content_length_value(h.value)?;
        if found.is_some_and(|f| f != n) {
            return Err(err(
                K::BadContentLength,
                "several Content-Length headers disagree",
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
