//! Message boundaries on stream transports (RFC 3261 §18.3): the header section ends at
//! the first blank line and the body is exactly Content-Length bytes.

use super::error::{ParseError, ParseErrorKind as K};
use super::parse::{content_length_value, err, next_line};
use super::Limits;

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
    let Some((first_end, mut pos)) = next_line(rest, 0) else {
        return incomplete(rest, limits);
    };
    // A stream whose message does not even start like SIP has lost its framing for good.
    let first = &rest[..first_end];
    let plausible = first.len() >= 8
        && (first[..8].eq_ignore_ascii_case(b"SIP/2.0 ")
            || first[first.len() - 8..].eq_ignore_ascii_case(b" SIP/2.0"));
    if !plausible {
        return Err(err(
            K::BadStartLine,
            "stream does not start with a SIP start line",
        ));
    }
    let mut length: Option<usize> = None;
    // The value of the Content-Length being read, which may be folded over lines.
    let mut current: Option<String> = None;
    let body_start = loop {
        let Some((end, next)) = next_line(rest, pos) else {
            return incomplete(rest, limits);
        };
        let line = &rest[pos..end];
        pos = next;
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(v) = current.as_mut() {
                v.push(' ');
                v.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        if let Some(v) = current.take() {
            length = Some(content_length_value(v.trim())?);
        }
        if line.is_empty() {
            break next;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"Content-Length") || name.eq_ignore_ascii_case(b"l") {
            current = Some(String::from_utf8_lossy(&line[colon + 1..]).into_owned());
        }
    };
    let total = body_start + length.unwrap_or(0);
    if total > limits.max_message_bytes {
        return Err(err(
            K::TooLarge,
            format!(
                "message of {total} bytes exceeds the limit of {}",
                limits.max_message_bytes
            ),
        ));
    }
    if rest.len() < total {
        return Ok(None);
    }
    Ok(Some((skip, total)))
}

/// No complete header section yet: wait, unless it is already too big.
fn incomplete(rest: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, ParseError> {
    if rest.len() > limits.max_message_bytes {
        return Err(err(
            K::TooLarge,
            "header section exceeds the message size limit",
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{parse_message, Framing};

    const MSG: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
                       Content-Length: 4\r\n\r\nbody";

    #[test]
    fn frames_back_to_back_messages() {
        let two = format!("\r\n\r\n{MSG}{MSG}");
        let b = two.as_bytes();
        let l = Limits::default();
        let (skip, len) = frame_stream(b, &l).unwrap().unwrap();
        assert_eq!((skip, len), (4, MSG.len()));
        assert!(parse_message(&b[skip..skip + len], Framing::Stream, &l).is_ok());
        let rest = &b[skip + len..];
        assert_eq!(frame_stream(rest, &l).unwrap(), Some((0, rest.len())));
        // Every proper prefix needs more bytes.
        for cut in 0..rest.len() {
            assert_eq!(frame_stream(&rest[..cut], &l).unwrap(), None, "cut {cut}");
        }
    }

    #[test]
    fn compact_folded_and_absent_lengths() {
        let l = Limits::default();
        let compact = MSG.replace("Content-Length: 4", "l :4");
        assert_eq!(
            frame_stream(compact.as_bytes(), &l).unwrap(),
            Some((0, compact.len()))
        );
        let folded = MSG.replace("Content-Length: 4", "Content-Length:\r\n  4");
        assert_eq!(
            frame_stream(folded.as_bytes(), &l).unwrap(),
            Some((0, folded.len()))
        );
        let none = MSG.replace("Content-Length: 4\r\n", "");
        assert_eq!(
            frame_stream(none.as_bytes(), &l).unwrap(),
            Some((0, none.len() - 4))
        );
    }

    #[test]
    fn unframeable_streams_are_errors() {
        let l = Limits::default();
        for bad in [
            MSG.replace("Content-Length: 4", "l: x"),
            MSG.replace("Content-Length: 4", "Content-Length: -4"),
            MSG.replace("Content-Length: 4", "Content-Length: 99999999999"),
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
        ] {
            assert!(frame_stream(bad.as_bytes(), &l).is_err(), "{bad:?}");
        }
        let small = Limits {
            max_message_bytes: 40,
            ..l
        };
        assert_eq!(
            frame_stream(MSG.as_bytes(), &small).unwrap_err().kind,
            K::TooLarge
        );
        let endless = "OPTIONS sip:a@b SIP/2.0\r\nX: ".to_string() + &"y".repeat(100);
        assert_eq!(
            frame_stream(endless.as_bytes(), &small).unwrap_err().kind,
            K::TooLarge
        );
    }
}
