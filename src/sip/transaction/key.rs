//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

use crate::sip::wire::{Host, Method, Request, Response, Via};

/// RFC 3261 branches start with this cookie; anything else is an RFC 2543 peer.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// What identifies a transaction. Built from the parsed Via without formatting
/// anything: a key is made for every request and response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxKey {
    /// §17.2.3: branch + sent-by + method class (ACK matches INVITE).
    Server {
        branch: String,
        host: Host,
        port: u16,
        class: Method,
    },
    /// The RFC 2543 tuple, for peers whose branch lacks the magic cookie.
    Rfc2543(String),
    /// §17.1.3: branch + CSeq method class.
    Client { branch: String, class: Method },
    /// A key nothing else can match, for requests that carry no usable identity.
    Unmatchable(u64),
}

/// The method whose transaction a request belongs to (ACK belongs to INVITE's).
fn class(method: &Method) -> Method {
    match method {
        Method::Ack => Method::Invite,
        m => m.clone(),
    }
}

impl TxKey {
    /// Key of the server transaction `req` (whose top Via is `via`) belongs to;
    /// `as_method` overrides the method class (CANCEL looking up its INVITE).
    pub fn server(req: &Request, via: &Via, as_method: Option<&Method>) -> Option<TxKey> {
        let method = class(as_method.unwrap_or(&req.method));
        match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => Some(TxKey::Server {
                branch: b.to_string(),
                host: via.host.clone(),
                port: via.port.unwrap_or(0),
                class: method,
            }),
            _ => {
                let from_tag = req
                    .headers
                    .from()
                    .ok()
                    .and_then(|f| f.tag().map(str::to_string))
                    .unwrap_or_default();
                let call_id = req.headers.call_id().ok()?;
                let cseq = req.headers.cseq().ok()?.seq;
                Some(TxKey::Rfc2543(format!(
                    "{}|{from_tag}|{call_id}|{cseq}|{via}|{}",
                    req.uri,
                    method.as_str()
                )))
            }
        }
    }

    pub fn client_for_request(req: &Request) -> Option<TxKey> {
        let via = req.headers.top_via().ok()?;
        Some(TxKey::Client {
            branch: via.branch()?.to_string(),
            class: class(&req.method),
        })
    }

    pub fn client_for_response(resp: &Response) -> Option<TxKey> {
        let via = resp.headers.top_via().ok()?;
        let cseq = resp.headers.cseq().ok()?;
        Some(TxKey::Client {
            branch: via.branch()?.to_string(),
            class: class(&cseq.method),
        })
    }

    /// A key nothing else can match, for requests that carry no usable identity.
    pub fn unmatchable(id: u64) -> TxKey {
        TxKey::Unmatchable(id)
    }
}
