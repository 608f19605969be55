//! Bytes to [`Message`].

use super::error::ParseError;
use super::message::Message;
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

/// Parses one complete message.
pub fn parse_message(buf: &[u8], framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
    todo!()
}

/// For stream transports: the length of the first complete message at the start of
/// `buf` (skipping leading CRLF keep-alives is the caller's job: see return), Ok(None)
/// when more bytes are needed, Err when the stream is unrecoverable (too large, bad
/// Content-Length). Returns (bytes of leading CRLFs to skip, message length).
pub fn frame_stream(buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, ParseError> {
    todo!()
}
