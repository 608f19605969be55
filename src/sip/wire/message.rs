//! The owned message model: start line, ordered headers, body.

use super::error::ParseError;
use super::header::{CSeq, Contact, NameAddr, Via};
use super::uri::Uri;

/// A SIP method. Unknown methods are kept by name (RFC 3261 `extension-method`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Extension(String),
}

impl Method {
    /// The method token as it goes on the wire (case-sensitive per RFC 3261 §7.1).
    pub fn as_str(&self) -> &str {
        todo!()
    }
    /// Parses a method token; unknown tokens become [`Method::Extension`].
    pub fn from_token(token: &str) -> Method {
        todo!()
    }
}

/// One header field as received: canonical long name (compact forms expanded, known
/// names in their RFC spelling, unknown names verbatim) and its value, unfolded and
/// trimmed, exactly as it was otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Headers in wire order. Lookups are case-insensitive and accept compact names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<Header>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }
    /// Value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        todo!()
    }
    /// Every comma-separated value of every field named `name`, in order (commas inside
    /// quotes or `<...>` do not split).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        todo!()
    }
    /// Appends a field (name is canonicalised).
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        todo!()
    }
    /// Replaces every field named `name` with one field holding `value`, keeping the
    /// position of the first one (or appending).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        todo!()
    }
    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        todo!()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.entries.iter()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    // Typed accessors. Each parses on demand and says what was wrong.

    /// All Via values, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        todo!()
    }
    pub fn top_via(&self) -> Result<Via, ParseError> {
        todo!()
    }
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        todo!()
    }
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        todo!()
    }
    pub fn call_id(&self) -> Result<&str, ParseError> {
        todo!()
    }
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        todo!()
    }
    /// Contact values; `*` is [`Contact::Star`].
    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        todo!()
    }
    /// `Expires` header as seconds, if present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        todo!()
    }
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        todo!()
    }
}

/// A request: method, Request-URI, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Status code and reason phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub code: u16,
    pub reason: String,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusLine,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    /// Builds a response to `req` per RFC 3261 §8.2.6: copies Via (all, in order),
    /// From, To, Call-ID and CSeq; Content-Length 0. Does not add a To tag.
    pub fn to_request(req: &Request, code: u16, reason: &str) -> Response {
        todo!()
    }
    /// Same, from the headers salvaged out of a message that failed to parse
    /// (for `400 Bad Request`); None when Via is missing or unusable.
    pub fn to_headers(headers: &Headers, code: u16, reason: &str) -> Option<Response> {
        todo!()
    }
    /// Adds `;tag=TAG` to the To header when it has none.
    pub fn set_to_tag(&mut self, tag: &str) {
        todo!()
    }
}

/// Any SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}
