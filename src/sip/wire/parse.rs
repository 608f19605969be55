//! Bytes to [`Message`], in one pass over the header section.

use super::error::{ParseError, ParseErrorKind as K};
use super::header::is_token_byte;
use super::message::{
    stored_name, Header, Headers, Message, Method, Request, Response, StatusLine,
};
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

/// Where the header section ends: (end of last header line, start of body).
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some((nl, nl + 2)),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some((nl, nl + 3)),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

fn err(kind: K, detail: impl Into<String>) -> ParseError {
    ParseError::new(kind, detail)
}

/// Parses one complete message.
pub fn parse_message(buf: &[u8], framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
    if buf.len() > limits.max_message_bytes {
        return Err(err(
            K::TooLarge,
            format!(
                "message of {} bytes exceeds the limit of {}",
                buf.len(),
                limits.max_message_bytes
            ),
        ));
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let lead = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf = &buf[lead..];
    let (head_end, body_start) =
        header_end(buf).ok_or_else(|| err(K::Incomplete, "no blank line ends the headers"))?;
    let head = &buf[..head_end];
    if head.contains(&0) {
        return Err(err(K::BadHeaderLine, "NUL byte in the header section"));
    }
    let head = std::str::from_utf8(head)
        .map_err(|_| err(K::BadEncoding, "header section is not UTF-8"))?;

    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or("");
    let start = parse_start_line(start)?;

    let mut headers = Headers::new();
    let mut first_error: Option<ParseError> = None;
    let mut pending: Option<(std::borrow::Cow<'static, str>, String)> = None;
    let mut count = 0usize;
    let note = |e: ParseError, first: &mut Option<ParseError>| {
        if first.is_none() {
            *first = Some(e);
        }
    };
    for line in lines {
        if line.len() > limits.max_line_bytes {
            note(
                err(
                    K::LineTooLong,
                    format!("header line longer than {} bytes", limits.max_line_bytes),
                ),
                &mut first_error,
            );
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match pending.as_mut() {
                Some((_, v)) => {
                    if v.len() + line.len() > limits.max_line_bytes {
                        note(
                            err(K::LineTooLong, "folded header longer than the line limit"),
                            &mut first_error,
                        );
                    } else {
                        if !v.is_empty() {
                            v.push(' ');
                        }
                        v.push_str(line.trim());
                    }
                }
                None => note(
                    err(K::BadHeaderLine, "continuation line before any header"),
                    &mut first_error,
                ),
            }
            continue;
        }
        if let Some((n, v)) = pending.take() {
            headers.push_raw(Header { name: n, value: v });
        }
        let Some((name, value)) = line.split_once(':') else {
            note(
                err(
                    K::BadHeaderLine,
                    format!("header line without a colon: {:?}", truncate(line)),
                ),
                &mut first_error,
            );
            continue;
        };
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            note(
                err(
                    K::BadHeaderLine,
                    format!("bad header name {:?}", truncate(name)),
                ),
                &mut first_error,
            );
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            note(
                err(
                    K::TooManyHeaders,
                    format!("more than {} headers", limits.max_headers),
                ),
                &mut first_error,
            );
            break;
        }
        pending = Some((stored_name(name), value.trim().to_string()));
    }
    if let Some((n, v)) = pending.take() {
        headers.push_raw(Header { name: n, value: v });
    }

    let salvage = |mut e: ParseError, headers: Headers, is_request: bool| {
        if is_request {
            e.salvaged = Some(headers);
        }
        e
    };
    let is_request = matches!(start, Start::Request(..));
    if let Some(e) = first_error {
        return Err(salvage(e, headers, is_request));
    }

    let rest = &buf[body_start..];
    let declared = match content_length(&headers) {
        Ok(d) => d,
        Err(e) => return Err(salvage(e, headers, is_request)),
    };
    let body = match (declared, framing) {
        (Some(n), _) if n > rest.len() => {
            let e = err(
                K::TruncatedBody,
                format!("Content-Length {n} but only {} body bytes", rest.len()),
            );
            return Err(salvage(e, headers, is_request));
        }
        (Some(n), _) => rest[..n].to_vec(),
        (None, Framing::Datagram) => rest.to_vec(),
        (None, Framing::Stream) => Vec::new(),
    };

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

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn parse_start_line(line: &str) -> Result<Start, ParseError> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case("SIP/") {
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
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(err(
            K::BadStartLine,
            format!(
                "request line must be METHOD SP URI SP SIP/2.0: {:?}",
                truncate(line)
            ),
        ));
    }
    if !parts[0].bytes().all(is_token_byte) {
        return Err(err(
            K::BadStartLine,
            format!("bad method {:?}", truncate(parts[0])),
        ));
    }
    if !parts[2].eq_ignore_ascii_case("SIP/2.0") {
        return Err(err(
            K::BadVersion,
            format!("unsupported version {:?}", truncate(parts[2])),
        ));
    }
    let uri = Uri::parse(parts[1])
        .map_err(|e| err(K::BadUri, format!("bad Request-URI: {}", e.detail)))?;
    Ok(Start::Request(Method::from_token(parts[0]), uri))
}

/// The Content-Length, if any; several must agree.
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for v in headers
        .iter()
        .filter(|h| h.name == "Content-Length")
        .map(|h| h.value.trim())
    {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 9 {
            return Err(err(
                K::BadContentLength,
                format!("bad Content-Length {:?}", truncate(v)),
            ));
        }
        let n: usize = v
            .parse()
            .map_err(|_| err(K::BadContentLength, "bad Content-Length"))?;
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

/// For stream transports: where the first complete message sits in `buf`.
/// Ok(Some((skip, len))): skip `skip` leading CR/LF keep-alive bytes, then the message
/// is `buf[skip..skip + len]`. Ok(None): more bytes are needed. Err: the stream cannot be
/// framed (too large, bad Content-Length) and should be closed.
pub fn frame_stream(buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, ParseError> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let rest = &buf[skip..];
    let Some((head_end, body_start)) = header_end(rest) else {
        if rest.len() > limits.max_message_bytes {
            return Err(err(
                K::TooLarge,
                "header section exceeds the message size limit",
            ));
        }
        return Ok(None);
    };
    let head = &rest[..head_end];
    // A stream whose message does not even start like SIP has lost its framing for good.
    let first = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let plausible = (first.len() >= 8 && first[..8].eq_ignore_ascii_case(b"SIP/2.0 "))
        || (first.len() >= 8 && first[first.len() - 8..].eq_ignore_ascii_case(b" SIP/2.0"));
    if !plausible {
        return Err(err(
            K::BadStartLine,
            "stream does not start with a SIP start line",
        ));
    }
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            let v = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
            if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(
                    K::BadContentLength,
                    format!("bad Content-Length {:?}", truncate(v)),
                ));
            }
            length = v
                .parse()
                .map_err(|_| err(K::BadContentLength, "bad Content-Length"))?;
        }
    }
    let total = body_start + length;
    if total > limits.max_message_bytes {
        return Err(err(
            K::TooLarge,
            format!("message of {total} bytes exceeds the limit"),
        ));
    }
    if rest.len() < total {
        return Ok(None);
    }
    Ok(Some((skip, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "REGISTER sip:example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
        f: <sip:1001@example.com>;tag=a\r\n\
        t: <sip:1001@example.com>\r\n\
        i: abc\r\n\
        CSeq: 1 REGISTER\r\n\
        Subject : folded\r\n  over lines\r\n\
        X-Odd:   keep me \r\n\
        l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_compact_folded_and_body() {
        let m = parse_message(REG.as_bytes(), Framing::Datagram, &Limits::default()).unwrap();
        let Message::Request(r) = m else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Register);
        assert_eq!(r.headers.call_id().unwrap(), "abc");
        assert_eq!(r.headers.get("Subject"), Some("folded over lines"));
        assert_eq!(r.headers.get("x-odd"), Some("keep me"));
        assert_eq!(r.body, b"body");
        super::super::check_mandatory(&r).unwrap();
        let again = parse_message(&r.to_bytes(), Framing::Datagram, &Limits::default()).unwrap();
        assert_eq!(Message::Request(r), again);
    }

    #[test]
    fn errors_say_what_and_salvage() {
        let trunc = REG.replace("l: 4", "l: 40");
        let e = parse_message(trunc.as_bytes(), Framing::Datagram, &Limits::default()).unwrap_err();
        assert_eq!(e.kind, K::TruncatedBody);
        assert!(e.salvaged.unwrap().get("Via").is_some());
        let nocolon = REG.replace("X-Odd:", "X-Odd");
        let e =
            parse_message(nocolon.as_bytes(), Framing::Datagram, &Limits::default()).unwrap_err();
        assert_eq!(e.kind, K::BadHeaderLine);
        let small = Limits {
            max_message_bytes: 50,
            ..Limits::default()
        };
        assert_eq!(
            parse_message(REG.as_bytes(), Framing::Datagram, &small)
                .unwrap_err()
                .kind,
            K::TooLarge
        );
        assert_eq!(
            parse_message(
                b"SIP/2.0 4294967301 Big\r\n\r\n",
                Framing::Datagram,
                &Limits::default()
            )
            .unwrap_err()
            .kind,
            K::BadStartLine
        );
        assert_eq!(
            parse_message(
                b"INVITE sip:a@b SIP/7.0\r\n\r\n",
                Framing::Datagram,
                &Limits::default()
            )
            .unwrap_err()
            .kind,
            K::BadVersion
        );
    }

    #[test]
    fn stream_framing() {
        let two = format!(
            "\r\n\r\n{}{}",
            REG.replace("bodyEXTRA", "body"),
            REG.replace("bodyEXTRA", "body")
        );
        let b = two.as_bytes();
        let (skip, len) = frame_stream(b, &Limits::default()).unwrap().unwrap();
        assert_eq!(skip, 4);
        assert!(parse_message(&b[skip..skip + len], Framing::Stream, &Limits::default()).is_ok());
        let rest = &b[skip + len..];
        assert_eq!(
            frame_stream(rest, &Limits::default()).unwrap(),
            Some((0, rest.len()))
        );
        assert_eq!(
            frame_stream(&rest[..rest.len() - 1], &Limits::default()).unwrap(),
            None
        );
        assert!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nl: x\r\n\r\n", &Limits::default()).is_err()
        );
    }
}
