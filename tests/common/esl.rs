//! A minimal Event Socket (inbound) client speaking the wire protocol
//! directly: headers, blank line, then exactly Content-Length body bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One ESL frame: headers in order, and the body (Content-Length bytes).
#[derive(Debug, Clone)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection to the event socket.
pub struct EslConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl EslConn {
    /// Connects to 127.0.0.1:port with 5 s timeouts.
    pub fn connect(port: u16) -> EslConn {
        let s = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to event socket port {port}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set read timeout");
        let writer = s.try_clone().expect("clone stream");
        EslConn {
            reader: BufReader::new(s),
            writer,
        }
    }

    /// Connects to 127.0.0.1:port from the loopback address `source` (to play
    /// another host).
    pub fn connect_from(source: &str, port: u16) -> EslConn {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let from: std::net::SocketAddr = format!("{source}:0").parse().expect("source address");
        s.bind(&from.into()).expect("bind the source address");
        let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        s.connect(&to.into())
            .unwrap_or_else(|e| panic!("connect to event socket port {port} from {source}: {e}"));
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set read timeout");
        let writer = s.try_clone().expect("clone stream");
        EslConn {
            reader: BufReader::new(s),
            writer,
        }
    }

    /// Sends a command followed by the blank line.
    pub fn send(&mut self, cmd: &str) {
        self.writer
            .write_all(format!("{cmd}\n\n").as_bytes())
            .unwrap_or_else(|e| panic!("write {cmd:?}: {e}"));
    }

    /// Reads one frame; `Err` on EOF, timeout or malformed framing.
    pub fn read_frame(&mut self) -> Result<Frame, String> {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("read header: {e}"))?;
            if n == 0 {
                return Err(format!("EOF after headers {headers:?}"));
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                if headers.is_empty() {
                    continue;
                }
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| format!("header line without colon: {l:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut frame = Frame {
            headers,
            body: Vec::new(),
        };
        if let Some(len) = frame.header("Content-Length") {
            let len: usize = len
                .parse()
                .map_err(|e| format!("bad Content-Length {len:?}: {e}"))?;
            let mut body = vec![0u8; len];
            self.reader
                .read_exact(&mut body)
                .map_err(|e| format!("read {len}-byte body: {e}"))?;
            frame.body = body;
        }
        Ok(frame)
    }

    /// Reads frames until one with the given Content-Type (skipping events).
    pub fn expect_type(&mut self, content_type: &str) -> Frame {
        for _ in 0..20 {
            match self.read_frame() {
                Ok(f) if f.header("Content-Type") == Some(content_type) => return f,
                Ok(_) => continue,
                Err(e) => panic!("waiting for {content_type}: {e}"),
            }
        }
        panic!("no {content_type} frame within 20 frames");
    }

    /// After the server's greeting, authenticates; returns the reply frame.
    pub fn auth(&mut self, password: &str) -> Frame {
        self.send(&format!("auth {password}"));
        self.expect_type("command/reply")
    }

    /// `api CMD`: the api/response frame.
    pub fn api(&mut self, cmd: &str) -> Frame {
        self.send(&format!("api {cmd}"));
        self.expect_type("api/response")
    }

    /// Is there nothing more to read (server closed), within the timeout?
    pub fn read_raw_until_close(&mut self) -> (bool, Vec<u8>) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => (true, rest),
            Err(_) => (false, rest),
        }
    }
}

/// A `text/event-plain` body's headers, url-decoded.
pub fn event_headers(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

/// An event's headers, looked up by name.
pub struct Event(pub Vec<(String, String)>);

impl Event {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl EslConn {
    /// Connected to the gateway's event socket and authenticated.
    pub fn logged_in(gw: &super::Gateway) -> EslConn {
        let mut esl = EslConn::connect(gw.esl_port());
        esl.expect_type("auth/request");
        esl.auth(&gw.esl_password());
        esl
    }

    /// `event plain NAMES`.
    pub fn subscribe(&mut self, names: &str) {
        self.send(&format!("event plain {names}"));
        self.expect_type("command/reply");
    }

    /// The next event `wanted` accepts, skipping others; panics after `within`.
    pub fn wait_event(&mut self, wanted: impl Fn(&Event) -> bool, within: Duration) -> Event {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            let Ok(frame) = self.read_frame() else {
                continue;
            };
            if frame.header("Content-Type") != Some("text/event-plain") {
                continue;
            }
            let e = Event(event_headers(&frame.body_text()));
            if wanted(&e) {
                return e;
            }
        }
        panic!("no such event within {within:?}");
    }
}
