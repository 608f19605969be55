//! Parse errors that say what was wrong.

use super::message::Headers;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Message larger than `Limits::max_message_bytes`.
    TooLarge,
    /// More header fields than `Limits::max_headers`.
    TooManyHeaders,
    /// A header line longer than `Limits::max_line_bytes`.
    LineTooLong,
    /// The start line is not a valid Request-Line or Status-Line.
    BadStartLine,
    /// Not `SIP/2.0`.
    BadVersion,
    /// A header line without a colon, or with an invalid name.
    BadHeaderLine,
    /// A header needed by the caller is missing.
    MissingHeader,
    /// A header's value is malformed.
    BadHeaderValue,
    /// Content-Length is not a number, or several disagree.
    BadContentLength,
    /// The body is shorter than Content-Length says.
    TruncatedBody,
    /// No blank line ends the headers.
    Incomplete,
    /// A URI is malformed.
    BadUri,
    /// Not valid UTF-8 where text is required.
    BadEncoding,
}

/// What was wrong, where; `salvaged` holds the headers that could be read despite the
/// failure, so a server can still answer 400 on the right transaction. It is None for
/// responses (never answered) and when no header could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// Human-readable detail, suitable for a 400 reason phrase or a log line
    /// (e.g. "bad CSeq: sequence number is not a 32-bit integer").
    pub detail: String,
    pub salvaged: Option<Headers>,
}

impl ParseError {
    pub fn new(kind: ParseErrorKind, detail: impl Into<String>) -> ParseError {
        ParseError {
            kind,
            detail: detail.into(),
            salvaged: None,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ParseError {}
