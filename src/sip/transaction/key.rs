//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

use crate::sip::wire::{Method, Request, Response};

/// RFC 3261 branches start with this cookie; anything else is an RFC 2543 peer.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A compact string key. Server keys: branch + sent-by + method class (ACK matches
/// INVITE), or the RFC 2543 tuple. Client keys: branch + CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxKey(String);

/// The method whose transaction a request belongs to (ACK belongs to INVITE's).
fn class(method: &Method) -> &str {
    match method {
        Method::Ack => "INVITE",
        m => m.as_str(),
    }
}

impl TxKey {
    /// Key of the server transaction `req` belongs to; `as_method` overrides the method
    /// class (CANCEL looking up its INVITE).
    pub fn server(req: &Request, as_method: Option<&Method>) -> Option<TxKey> {
        let method = class(as_method.unwrap_or(&req.method));
        let via = req.headers.top_via().ok()?;
        match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => {
                let port = via.port.unwrap_or(0);
                Some(TxKey(format!("s|{b}|{}:{port}|{method}", via.host)))
            }
            _ => {
                let from_tag = req
                    .headers
                    .from()
                    .ok()
                    .and_then(|f| f.tag().map(str::to_string))
                    .unwrap_or_default();
                let call_id = req.headers.call_id().ok()?;
                let cseq = req.headers.cseq().ok()?.seq;
                Some(TxKey(format!(
                    "2543|{}|{from_tag}|{call_id}|{cseq}|{via}|{method}",
                    req.uri
                )))
            }
        }
    }

    pub fn client_for_request(req: &Request) -> Option<TxKey> {
        let via = req.headers.top_via().ok()?;
        Some(TxKey(format!("c|{}|{}", via.branch()?, class(&req.method))))
    }

    pub fn client_for_response(resp: &Response) -> Option<TxKey> {
        let via = resp.headers.top_via().ok()?;
        let cseq = resp.headers.cseq().ok()?;
        Some(TxKey(format!(
            "c|{}|{}",
            via.branch()?,
            class(&cseq.method)
        )))
    }
}

impl TxKey {
    /// A key nothing else can match, for requests that carry no usable identity.
    pub fn unmatchable(id: u64) -> TxKey {
        TxKey(format!("x|{id}"))
    }
}
