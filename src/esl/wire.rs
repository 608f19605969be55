//! The Event Socket's framing, sans-IO: blocks of `Name: value` lines ended by a blank
//! line, optionally followed by a body of `Content-Length` bytes. Used by the server
//! (reading commands) and the client (reading replies).

/// One frame: headers in order, and the body when Content-Length said so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// For commands: the first line when it has no colon (e.g. `api status`).
    pub command: Option<String>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooLarge { limit: usize },
    BadContentLength(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { limit } => write!(f, "frame larger than {limit} bytes"),
            FrameError::BadContentLength(v) => write!(f, "bad Content-Length {v:?}"),
        }
    }
}

/// Incremental decoder: `feed` bytes, then `next` until it returns Ok(None).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    limit: usize,
}

impl Decoder {
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            limit,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        // Blank lines between frames are noise (clients send `\n\n` generously).
        let lead = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        if lead > 0 {
            self.buf.drain(..lead);
        }
        let Some(end) = find_blank_line(&self.buf) else {
            if self.buf.len() > self.limit {
                return Err(FrameError::TooLarge { limit: self.limit });
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..end.0]).into_owned();
        let mut frame = Frame::default();
        for (i, line) in head.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            match line.split_once(':') {
                Some((n, v)) if i > 0 || !looks_like_command(line) => frame
                    .headers
                    .push((n.trim().to_string(), v.trim().to_string())),
                _ if i == 0 => frame.command = Some(line.trim().to_string()),
                _ => {}
            }
        }
        let body_len = match frame.header("Content-Length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| FrameError::BadContentLength(v.to_string()))?,
            None => 0,
        };
        if end.1 + body_len > self.limit {
            return Err(FrameError::TooLarge { limit: self.limit });
        }
        if self.buf.len() < end.1 + body_len {
            return Ok(None);
        }
        frame.body = self.buf[end.1..end.1 + body_len].to_vec();
        self.buf.drain(..end.1 + body_len);
        Ok(Some(frame))
    }
}

/// A command line such as `api status` or `auth pw` (a word then a space before any
/// colon), as opposed to a `Header: value` line.
fn looks_like_command(line: &str) -> bool {
    match (line.find(' '), line.find(':')) {
        (Some(space), Some(colon)) => space < colon,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// (end of headers, start of body): accepts `\n\n` and `\r\n\r\n`.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// Writes a frame with headers then body; adds Content-Length when there is a body.
pub fn encode(headers: &[(&str, &str)], body: Option<&str>) -> Vec<u8> {
    let mut out = String::new();
    if let Some(b) = body {
        out.push_str(&format!("Content-Length: {}\n", b.len()));
    }
    for (n, v) in headers {
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
    out.push('\n');
    if let Some(b) = body {
        out.push_str(b);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_reply_frames_split_anywhere() {
        let stream =
            b"auth secret\n\napi status\n\nContent-Type: api/response\nContent-Length: 5\n\nhello";
        for cut in 0..stream.len() {
            let mut d = Decoder::new(1024);
            d.feed(&stream[..cut]);
            let mut frames = Vec::new();
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
            d.feed(&stream[cut..]);
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
            assert_eq!(frames.len(), 3, "cut {cut}");
            assert_eq!(frames[0].command.as_deref(), Some("auth secret"));
            assert_eq!(frames[1].command.as_deref(), Some("api status"));
            assert_eq!(frames[2].header("content-type"), Some("api/response"));
            assert_eq!(frames[2].body, b"hello");
        }
    }

    #[test]
    fn limits_and_bad_length() {
        let mut d = Decoder::new(16);
        d.feed(&[b'a'; 40]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut d = Decoder::new(1024);
        d.feed(b"Content-Length: x\n\n");
        assert!(matches!(
            d.next_frame(),
            Err(FrameError::BadContentLength(_))
        ));
    }

    #[test]
    fn command_with_colon_in_args_is_a_command() {
        let mut d = Decoder::new(1024);
        d.feed(b"api originate sofia/gateway/x:1\n\n");
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(
            f.command.as_deref(),
            Some("api originate sofia/gateway/x:1")
        );
    }
}
