//! Typed views of the headers the stack itself needs.

use super::error::ParseError;
use super::message::Method;
use super::uri::{Host, Uri};

/// One `;name[=value]` parameter. Names compare case-insensitively; values are kept as
/// written (quoted values keep their quotes off, unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Some(Some(v)) for `name=v`, Some(None) for a bare `name`, None when absent.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        todo!()
    }
    /// Sets or replaces a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        todo!()
    }
    pub fn remove(&mut self, name: &str) {
        todo!()
    }
}

/// A Via value: `SIP/2.0/UDP host[:port];params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper-cased (UDP, TCP, TLS, WS, ...).
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn branch(&self) -> Option<&str> {
        todo!()
    }
    /// Parses one Via value.
    pub fn parse(value: &str) -> Result<Via, ParseError> {
        todo!()
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}

/// `"Display" <uri>;params` or `uri;params` (From, To, Contact, Route, ...).
/// In the bare `uri;params` form, `;params` belong to the header, not the URI (§20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name with quotes removed and escapes resolved.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn tag(&self) -> Option<&str> {
        todo!()
    }
    pub fn parse(value: &str) -> Result<NameAddr, ParseError> {
        todo!()
    }
}

impl std::fmt::Display for NameAddr {
    /// Always writes the `<uri>` form, quoting the display name when needed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}

/// One Contact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *` (only valid with Expires: 0 in REGISTER).
    Star,
    Addr(NameAddr),
}

/// `CSeq: 42 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &str) -> Result<CSeq, ParseError> {
        todo!()
    }
}
