//! SIP message codec (RFC 3261 §7 and §25).
//!
//! Design: a message is parsed once into an owned [`Message`] whose headers are kept as
//! (canonical name, raw value) pairs in wire order. Typed views (Via, From/To, CSeq,
//! Contact, ...) are parsed on demand by accessor methods, so a header loopstart does
//! not understand is kept verbatim and relayed untouched, and a malformed header only
//! matters to the code that actually needs it.
//!
//! Every parse is bounded by [`Limits`]; every failure is a [`ParseError`] saying what
//! was wrong, carrying whatever headers could be read so the caller can still answer
//! `400 Bad Request` with the right Via/Call-ID/CSeq.

mod error;
mod frame;
mod header;
mod message;
mod names;
mod parse;
mod serialize;
mod uri;

pub use error::{ParseError, ParseErrorKind};
pub use frame::frame_stream;
pub(crate) use header::write_quoted;
pub use header::{CSeq, Contact, NameAddr, Param, Params, Via};
pub use message::{
    check_mandatory, check_response, Essentials, Header, Headers, Message, Method, Request,
    Response, StatusLine,
};
pub use parse::{parse_message, Framing};
pub use uri::{Host, Scheme, Uri};

/// Bounds applied to every message read from the network.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest whole message (start line + headers + body), in bytes.
    pub max_message_bytes: usize,
    /// Most header fields (after unfolding, before splitting comma lists).
    pub max_headers: usize,
    /// Longest single header line, after unfolding.
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 65_535,
            max_headers: 128,
            max_line_bytes: 8_192,
        }
    }
}
