//! [`Message`] to bytes.

use super::message::{Headers, Message, Request, Response};

/// Appends text that must stay on one line: a CR, LF or other control character
/// (which application code could have put into a value) becomes a space, so no value
/// can end its header early and inject another.
fn put_line_text(out: &mut Vec<u8>, s: &str) {
    let unsafe_byte = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if s.bytes().any(unsafe_byte) {
        out.extend(s.bytes().map(|b| if unsafe_byte(b) { b' ' } else { b }));
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_headers(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    let mut wrote_length = false;
    for h in headers.iter() {
        if h.name == "Content-Length" {
            if !wrote_length {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                wrote_length = true;
            }
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        put_line_text(out, h.value);
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

impl Request {
    /// Serialises with a correct Content-Length for the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(
            format!("{} {} SIP/2.0\r\n", self.method.as_str(), self.uri).as_bytes(),
        );
        write_headers(&mut out, &self.headers, &self.body);
        out
    }
}

impl Response {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(format!("SIP/2.0 {} ", self.status.code).as_bytes());
        put_line_text(&mut out, &self.status.reason);
        out.extend_from_slice(b"\r\n");
        write_headers(&mut out, &self.headers, &self.body);
        out
    }
}

impl Message {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{parse_message, Framing, Limits, StatusLine, Uri};

    fn request(headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut h = Headers::new();
        for (n, v) in headers {
            h.push(n, *v);
        }
        Request {
            method: super::super::Method::Options,
            uri: Uri::parse("sip:%61b;c@example.com;lr").unwrap(),
            headers: h,
            body: body.to_vec(),
        }
    }

    #[test]
    fn content_length_is_always_right() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("Call-ID", "x")],
                "Call-ID: x\r\nContent-Length: 2\r\n\r\nhi",
            ),
            (
                &[("l", "99"), ("Call-ID", "x"), ("Content-Length", "7")],
                "Content-Length: 2\r\nCall-ID: x\r\n\r\nhi",
            ),
            (
                &[("i", "x"), ("X-Raw", "As  Written")],
                "Call-ID: x\r\nX-Raw: As  Written\r\nContent-Length: 2\r\n\r\nhi",
            ),
        ];
        for (headers, want) in cases {
            let bytes = request(headers, b"hi").to_bytes();
            let text = String::from_utf8(bytes).unwrap();
            assert_eq!(
                text,
                format!("OPTIONS sip:ab;c@example.com;lr SIP/2.0\r\n{want}")
            );
        }
    }

    #[test]
    fn values_cannot_inject_headers() {
        let r = request(&[("Subject", "a\r\nVia: evil")], b"");
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.contains("Subject: a  Via: evil\r\n"), "{text}");
        let resp = Response {
            status: StatusLine {
                code: 400,
                reason: "Bad\r\nX: y".into(),
            },
            headers: Headers::new(),
            body: Vec::new(),
        };
        let bytes = Message::Response(resp).to_bytes();
        assert!(bytes.starts_with(b"SIP/2.0 400 Bad  X: y\r\nContent-Length: 0\r\n\r\n"));
        assert!(parse_message(&bytes, Framing::Stream, &Limits::default()).is_ok());
    }
}
