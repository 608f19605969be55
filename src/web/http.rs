//! HTTP/1.1 as the web page needs it, sans-IO: bytes in, a [`Request`] or an error that
//! already knows its status code; a [`Response`] out as bytes.
//!
//! Deliberately small. One request per connection (`Connection: close`), a bounded head
//! and body, no chunked bodies (`Transfer-Encoding` is refused: request smuggling and
//! unbounded bodies both start there), no folded header lines. A browser needs no more
//! to use a configuration page, and every refusal is a status code a browser shows.

use std::fmt::Write as _;

/// Most header lines a request may carry.
const MAX_HEADERS: usize = 64;

/// What a request may weigh.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request line and headers, with their CRLFs.
    pub max_head: usize,
    /// `Content-Length`.
    pub max_body: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

/// A whole request: head and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The body's `application/x-www-form-urlencoded` field `name`.
    pub fn form_field(&self, name: &str) -> Option<String> {
        let body = std::str::from_utf8(&self.body).ok()?;
        body.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| percent_decode(k).as_deref() == Some(name))
            .and_then(|(_, v)| percent_decode(v))
    }
}

/// Why a request was refused; each is one status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 400, with what was wrong.
    BadRequest(&'static str),
    /// 405: not GET, HEAD or POST.
    MethodNotAllowed,
    /// 413.
    BodyTooLarge,
    /// 431.
    HeadTooLarge,
    /// 501: `Transfer-Encoding`.
    TransferEncoding,
    /// 505.
    Version,
}

impl HttpError {
    pub fn status(&self) -> Status {
        match self {
            HttpError::BadRequest(_) => Status::BadRequest,
            HttpError::MethodNotAllowed => Status::MethodNotAllowed,
            HttpError::BodyTooLarge => Status::PayloadTooLarge,
            HttpError::HeadTooLarge => Status::HeaderFieldsTooLarge,
            HttpError::TransferEncoding => Status::NotImplemented,
            HttpError::Version => Status::VersionNotSupported,
        }
    }

    /// A line for the browser and the log.
    pub fn reason(&self) -> &'static str {
        match self {
            HttpError::BadRequest(why) => why,
            HttpError::MethodNotAllowed => "only GET, HEAD and POST are served",
            HttpError::BodyTooLarge => "the request body is over max-request-bytes",
            HttpError::HeadTooLarge => "the request headers are too large",
            HttpError::TransferEncoding => "Transfer-Encoding is not accepted; send Content-Length",
            HttpError::Version => "only HTTP/1.0 and HTTP/1.1 are served",
        }
    }
}

/// Parses the request at the start of `buf`. `Ok(None)`: not all of it has arrived.
pub fn parse(buf: &[u8], limits: Limits) -> Result<Option<Request>, HttpError> {
    let Some(head_len) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() > limits.max_head {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if head_len > limits.max_head {
        return Err(HttpError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_len - 4])
        .map_err(|_| HttpError::BadRequest("the request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let (method, target) = request_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(HttpError::BadRequest(
                "folded header lines are not accepted",
            ));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::BadRequest("a header line has no colon"))?;
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(HttpError::BadRequest("a header name is not a token"));
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    if headers.iter().any(|(n, _)| n == "transfer-encoding") {
        return Err(HttpError::TransferEncoding);
    }
    let body_len = content_length(&headers)?;
    if body_len > limits.max_body {
        return Err(HttpError::BodyTooLarge);
    }
    let Some(body) = buf.get(head_len..head_len + body_len) else {
        return Ok(None);
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    Ok(Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.to_vec(),
    }))
}

fn request_line(line: &str) -> Result<(Method, &str), HttpError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest(
            "the request line is not METHOD TARGET VERSION",
        ));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Version);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        m if !m.is_empty() && m.bytes().all(is_token) => return Err(HttpError::MethodNotAllowed),
        _ => return Err(HttpError::BadRequest("the method is not a token")),
    };
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::BadRequest(
            "the request target is not an absolute path",
        ));
    }
    Ok((method, target))
}

/// One Content-Length (repeats must agree: RFC 9112 §6.3), absent = 0.
fn content_length(headers: &[(String, String)]) -> Result<usize, HttpError> {
    let mut len = None;
    for (_, v) in headers.iter().filter(|(n, _)| n == "content-length") {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::BadRequest("Content-Length is not a number"));
        }
        // Over usize: over any limit.
        let n = v.parse::<usize>().unwrap_or(usize::MAX);
        if len.is_some_and(|l| l != n) {
            return Err(HttpError::BadRequest("Content-Length headers disagree"));
        }
        len = Some(n);
    }
    Ok(len.unwrap_or(0))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `%XX` and `+` decoded; None when not UTF-8 or a `%` is not followed by two hex digits.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The status codes the page answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    SeeOther,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    TooManyRequests,
    HeaderFieldsTooLarge,
    ServiceUnavailable,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::SeeOther => 303,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::PayloadTooLarge => 413,
            Status::TooManyRequests => 429,
            Status::HeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::SeeOther => "See Other",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::PayloadTooLarge => "Payload Too Large",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// A response; [`Response::to_bytes`] adds the headers every answer carries.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: Status,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn html(status: Status, body: String) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
            body: body.into_bytes(),
        }
    }

    pub fn text(status: Status, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn redirect(location: &str) -> Response {
        Response {
            status: Status::SeeOther,
            headers: vec![("Location", location.to_string())],
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The bytes on the wire; `head_only` for HEAD (the length still says the body's).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status.code(),
            self.status.reason()
        );
        for (n, v) in &self.headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        // Nothing on this page is for another origin, a frame, a cache or a sniffer.
        head.push_str(
            "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
             X-Frame-Options: DENY\r\n\
             X-Content-Type-Options: nosniff\r\n\
             Referrer-Policy: no-referrer\r\n\
             Cache-Control: no-store\r\n\
             Connection: close\r\n",
        );
        let _ = write!(head, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Text made safe for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 1024,
        max_body: 64,
    };

    #[test]
    fn a_get_is_read_whole_and_a_partial_one_waits() {
        let raw = b"GET /status?x=1 HTTP/1.1\r\nHost: box\r\nCookie: a=1; session=abc\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut], LIMITS), Ok(None), "cut at {cut}");
        }
        let r = parse(raw, LIMITS).unwrap().unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.query.as_str()),
            (Method::Get, "/status", "x=1")
        );
        assert_eq!(r.header("host"), Some("box"));
        assert_eq!(r.cookie("session"), Some("abc"));
        assert_eq!(r.cookie("nope"), None);
    }

    #[test]
    fn a_post_waits_for_its_body_and_decodes_the_form() {
        let raw = b"POST /login HTTP/1.1\r\nContent-Length: 25\r\n\r\npassword=a%2Bb+c%26d&x=1";
        assert_eq!(parse(raw, LIMITS), Ok(None));
        let mut whole = raw.to_vec();
        whole.push(b'2');
        let r = parse(&whole, LIMITS).unwrap().unwrap();
        assert_eq!(r.form_field("password").as_deref(), Some("a+b c&d"));
        assert_eq!(r.form_field("x").as_deref(), Some("12"));
        assert_eq!(r.form_field("y"), None);
    }

    #[test]
    fn hostile_requests_get_their_status_code() {
        let cases: &[(&[u8], u16)] = &[
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                413,
            ),
            (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"DELETE / HTTP/1.1\r\n\r\n", 405),
            (b"GET http://evil/ HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
            (b"GET /\xff HTTP/1.1\r\n\r\n", 400),
        ];
        for (raw, code) in cases {
            let got = parse(raw, LIMITS).map_err(|e| e.status().code());
            assert_eq!(got, Err(*code), "{:?}", String::from_utf8_lossy(raw));
        }
        let many: String = (0..65).map(|i| format!("X-{i}: 1\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        let big = Limits {
            max_head: 4096,
            ..LIMITS
        };
        assert_eq!(parse(raw.as_bytes(), big), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn an_endless_head_is_refused_once_over_the_limit() {
        let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
        raw.resize(LIMITS.max_head, b'a');
        assert_eq!(parse(&raw, LIMITS), Ok(None));
        raw.push(b'a');
        assert_eq!(parse(&raw, LIMITS), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn responses_carry_length_close_and_the_safety_headers() {
        let r = Response::html(Status::Ok, "<p>hi</p>".into());
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 9\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.contains("X-Frame-Options: DENY\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n<p>hi</p>"), "{text}");
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("Content-Length: 9\r\n\r\n"), "{head}");
    }

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn percent_decode_refuses_broken_escapes() {
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%41%c3%a9").as_deref(), Some("Aé"));
    }
}
