//! [`Message`] to bytes.

use super::message::{Headers, Message, Request, Response};

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
        out.extend_from_slice(h.value.as_bytes());
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
        out.extend_from_slice(
            format!("SIP/2.0 {} {}\r\n", self.status.code, self.status.reason).as_bytes(),
        );
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
