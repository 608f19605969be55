//! The owned message model: start line, ordered headers, body.

use super::error::{ParseError, ParseErrorKind};
use super::header::{CSeq, Contact, NameAddr, Via};
use super::names::{canonical_name, is_list, stored_name};
use super::uri::Uri;
use std::borrow::Cow;

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
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
    /// Parses a method token; unknown tokens become [`Method::Extension`].
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_string()),
        }
    }
}

/// One header field: its canonical name and its value, unfolded and trimmed. A view
/// into [`Headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// Headers in wire order. Lookups are case-insensitive and accept compact names.
///
/// Every value lives in one text buffer that entries point into, so a parsed message
/// costs two allocations for all its headers rather than one per header (the
/// registrar's hot path is allocation-bound on musl). Replacing a value appends the
/// new text and leaves the old bytes unused: a message lives for one transaction.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: Cow<'static, str>,
    /// The value is `text[start..end]`.
    start: usize,
    end: usize,
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

fn missing(name: &str) -> ParseError {
    ParseError::new(ParseErrorKind::MissingHeader, format!("missing {name}"))
}

fn bad_value(detail: impl Into<String>) -> ParseError {
    ParseError::new(ParseErrorKind::BadHeaderValue, detail)
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `n` fields and `text` bytes of values without reallocating.
    pub fn with_capacity(n: usize, text: usize) -> Headers {
        Headers {
            text: String::with_capacity(text),
            entries: Vec::with_capacity(n),
        }
    }

    fn value_of(&self, e: &Entry) -> &str {
        // Entries only ever hold ranges of text appended whole.
        self.text.get(e.start..e.end).unwrap_or_default()
    }

    fn view<'a>(&'a self, e: &'a Entry) -> Header<'a> {
        Header {
            name: &e.name,
            value: self.value_of(e),
        }
    }

    /// Appends `value` to the text buffer; returns its range.
    fn store(&mut self, value: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(value);
        (start, self.text.len())
    }

    /// Fields named `name` (compact or any case), without allocating.
    pub(crate) fn matching<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = Header<'a>> + use<'a, 'n> {
        let canon = canonical_name(name);
        self.entries
            .iter()
            .filter(move |e| e.name.len() == canon.len() && e.name.eq_ignore_ascii_case(canon))
            .map(|e| self.view(e))
    }

    /// Value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.matching(name).next().map(|h| h.value)
    }

    /// Every comma-separated value of every field named `name`, in order (commas inside
    /// quotes or `<...>` do not split; headers such as WWW-Authenticate are not lists).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let list = is_list(canonical_name(name));
        let mut out = Vec::new();
        for h in self.matching(name) {
            if list {
                split_commas(h.value, &mut out);
            } else {
                out.push(h.value);
            }
        }
        out
    }

    /// Appends a field (name is canonicalised).
    pub fn push(&mut self, name: &str, value: impl AsRef<str>) {
        self.push_named(stored_name(name), value.as_ref());
    }

    /// Appends a field whose name is already canonical (the parser, response building).
    pub(crate) fn push_named(&mut self, name: Cow<'static, str>, value: &str) {
        let (start, end) = self.store(value);
        self.entries.push(Entry { name, start, end });
    }

    /// Continues the last field's value (a folded line); the caller adds the separator.
    pub(crate) fn extend_last(&mut self, more: &str) {
        // The last entry's value is the tail of `text` while parsing.
        if let Some(last) = self.entries.last_mut() {
            if last.end == self.text.len() {
                self.text.push_str(more);
                last.end = self.text.len();
            }
        }
    }

    /// Length of the last field's value.
    pub(crate) fn last_len(&self) -> Option<usize> {
        self.entries.last().map(|e| e.end - e.start)
    }

    /// Replaces every field named `name` with one field holding `value`, keeping the
    /// position of the first one (or appending).
    pub fn set(&mut self, name: &str, value: impl AsRef<str>) {
        let canon = canonical_name(name);
        match self
            .entries
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(canon))
        {
            Some(pos) => {
                let (start, end) = self.store(value.as_ref());
                self.entries[pos].start = start;
                self.entries[pos].end = end;
                let mut i = 0;
                self.entries.retain(|e| {
                    let keep = i <= pos || !e.name.eq_ignore_ascii_case(canon);
                    i += 1;
                    keep
                });
            }
            None => self.push_named(stored_name(canon), value.as_ref()),
        }
    }

    /// Replaces the topmost Via value in place (keeping any further values that share
    /// its header line, and the header's position).
    pub fn set_top_via(&mut self, via: &Via) {
        let Some(pos) = self.entries.iter().position(|e| e.name == "Via") else {
            self.push("Via", via.to_string());
            return;
        };
        let mut value = via.to_string();
        let mut values = Vec::new();
        split_commas(self.value_of(&self.entries[pos]), &mut values);
        for rest in values.iter().skip(1) {
            value.push_str(", ");
            value.push_str(rest);
        }
        let (start, end) = self.store(&value);
        self.entries[pos].start = start;
        self.entries[pos].end = end;
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        let canon = canonical_name(name);
        self.entries.retain(|e| !e.name.eq_ignore_ascii_case(canon));
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = Header<'_>> {
        self.entries.iter().map(|e| self.view(e))
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All Via values, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let all = self.get_all("Via");
        if all.is_empty() {
            return Err(missing("Via"));
        }
        all.into_iter().map(Via::parse).collect()
    }
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let first = self
            .get_all("Via")
            .into_iter()
            .next()
            .ok_or_else(|| missing("Via"))?;
        Via::parse(first)
    }
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.get("From").ok_or_else(|| missing("From"))?)
            .map_err(|e| bad_value(format!("bad From: {}", e.detail)))
    }
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.get("To").ok_or_else(|| missing("To"))?)
            .map_err(|e| bad_value(format!("bad To: {}", e.detail)))
    }
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = self.get("Call-ID").ok_or_else(|| missing("Call-ID"))?;
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(bad_value(format!("bad Call-ID {v:?}")));
        }
        Ok(v)
    }
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.get("CSeq").ok_or_else(|| missing("CSeq"))?)
    }
    /// Contact values; `*` is [`Contact::Star`].
    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        self.get_all("Contact")
            .into_iter()
            .map(|v| {
                if v.trim() == "*" {
                    Ok(Contact::Star)
                } else {
                    NameAddr::parse(v)
                        .map(Contact::Addr)
                        .map_err(|e| bad_value(format!("bad Contact: {}", e.detail)))
                }
            })
            .collect()
    }
    /// `Expires` header as seconds, if present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.number("Expires")
    }
    /// `Max-Forwards`, which RFC 4475 §3.1.2.4 bounds to 255.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        match self.number("Max-Forwards")? {
            Some(n) if n > 255 => Err(bad_value(format!("bad Max-Forwards {n}: larger than 255"))),
            n => Ok(n),
        }
    }

    fn number(&self, name: &str) -> Result<Option<u32>, ParseError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let v = v.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad_value(format!("bad {name} {v:?}: not a number")));
                }
                v.parse::<u32>()
                    .map(Some)
                    .map_err(|_| bad_value(format!("bad {name} {v:?}: too large")))
            }
        }
    }
}

/// Splits a list header value on commas outside quotes and angle brackets.
fn split_commas<'a>(value: &'a str, out: &mut Vec<&'a str>) {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => depth += 1,
            b'>' if !quoted => depth -= 1,
            b',' if !quoted && depth <= 0 => {
                let item = value[start..i].trim();
                if !item.is_empty() {
                    out.push(item);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let item = value[start..].trim();
    if !item.is_empty() {
        out.push(item);
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
    /// From, To, Call-ID and CSeq. Does not add a To tag.
    pub fn to_request(req: &Request, code: u16, reason: &str) -> Response {
        Response::to_headers(&req.headers, code, reason).unwrap_or_else(|| Response {
            status: StatusLine {
                code,
                reason: reason.to_string(),
            },
            headers: Headers::new(),
            body: Vec::new(),
        })
    }

    /// Same, from the headers salvaged out of a message that failed to parse
    /// (for `400 Bad Request`); None when there is no Via.
    pub fn to_headers(headers: &Headers, code: u16, reason: &str) -> Option<Response> {
        let mut out = Headers::with_capacity(8, 256);
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for h in headers.matching(name) {
                out.push_named(stored_name(h.name), h.value);
            }
        }
        // Without a Via there is nowhere to send the response.
        out.get("Via")?;
        Some(Response {
            status: StatusLine {
                code,
                reason: reason.to_string(),
            },
            headers: out,
            body: Vec::new(),
        })
    }

    /// Appends `;tag=TAG` to the To header, for a caller that already knows it has
    /// none (e.g. from the request's [`Essentials`]).
    pub fn push_to_tag(&mut self, tag: &str) {
        if let Some(to) = self.headers.get("To") {
            let v = format!("{to};tag={tag}");
            self.headers.set("To", v);
        }
    }

    /// Adds `;tag=TAG` to the To header when it has none.
    pub fn set_to_tag(&mut self, tag: &str) {
        let Some(to) = self.headers.get("To") else {
            return;
        };
        let has_tag = match NameAddr::parse(to) {
            Ok(n) => n.params.get("tag").is_some(),
            // Unreadable (the request was not checked): look for the parameter by name.
            Err(_) => to.to_ascii_lowercase().replace(' ', "").contains(";tag="),
        };
        if !has_tag {
            let v = format!("{to};tag={tag}");
            self.headers.set("To", v);
        }
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

/// The headers every request must carry, read once by [`check_mandatory`] so the
/// layers above (transactions, registrar, dialogs) need not parse them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essentials {
    pub top_via: Via,
    pub from: NameAddr,
    pub to: NameAddr,
    pub cseq: CSeq,
    /// Every Contact value (empty when there is none).
    pub contacts: Vec<Contact>,
    pub expires: Option<u32>,
    pub max_forwards: Option<u32>,
}

/// Checks what every request must carry (RFC 3261 §8.1.1): Via, From, To, Call-ID and a
/// CSeq whose method is the request's. The error's detail is a precise 400 reason.
/// Also checks the numbers (Max-Forwards, Expires) and Contact values when present,
/// since a request acted on with those unreadable could only be answered wrongly.
pub fn check_mandatory(req: &Request) -> Result<Essentials, ParseError> {
    let (top_via, from, to, cseq) = check_common(&req.headers)?;
    if cseq.method != req.method {
        return Err(bad_value(format!(
            "CSeq method {} does not match {}",
            cseq.method.as_str(),
            req.method.as_str()
        )));
    }
    Ok(Essentials {
        max_forwards: req.headers.max_forwards()?,
        expires: req.headers.expires()?,
        contacts: req.headers.contacts()?,
        top_via,
        from,
        to,
        cseq,
    })
}

/// The response counterpart of [`check_mandatory`]: a client transaction must discard a
/// response whose Via, From, To, Call-ID or CSeq it cannot read (RFC 3261 §8.1.3.3).
pub fn check_response(resp: &Response) -> Result<(), ParseError> {
    check_common(&resp.headers).map(drop)
}

/// Via, From, To, Call-ID and CSeq present, readable, and (but Via) not repeated.
/// Returns the top Via, From, To and CSeq.
fn check_common(headers: &Headers) -> Result<(Via, NameAddr, NameAddr, CSeq), ParseError> {
    for name in ["From", "To", "Call-ID", "CSeq"] {
        if headers.matching(name).nth(1).is_some() {
            return Err(bad_value(format!("more than one {name} header")));
        }
    }
    let top_via = headers
        .vias()?
        .into_iter()
        .next()
        .ok_or_else(|| missing("Via"))?;
    let from = headers.from()?;
    let to = headers.to()?;
    headers.call_id()?;
    Ok((top_via, from, to, headers.cseq()?))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
