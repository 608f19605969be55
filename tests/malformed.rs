//! Hostile input: every file in tests/fixtures/sip/malformed/ (read at run
//! time) plus inline cases, over UDP and TCP. Each must get an error answer
//! (400, or the specific RFC 4475 code) or no answer; never a success or a
//! challenge, and afterwards the gateway still answers OPTIONS and runs.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::sip::{self, status_code, TcpResult};
use common::Gateway;

/// Error codes a server may use for malformed input: 400 generally, and
/// the specific ones RFC 4475 expects (413/513 too large, 414 URI too long,
/// 416 bad scheme, 420 bad extension, 505 bad version).
const REJECTIONS: &[u16] = &[400, 413, 414, 416, 420, 505, 513];

/// A test input: name, bytes, and whether only a rejection (or silence)
/// is acceptable (`true`) or merely surviving it is required (`false`, for
/// inputs that are odd but arguably valid).
type Case = (String, Vec<u8>, bool);

fn fixtures() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sip/malformed");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() {
                let bytes =
                    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                out.push((format!("fixture {}", p.display()), bytes, true));
            }
        }
    }
    out.sort();
    out
}

fn inline_cases() -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    let mut add = |name: &str, b: Vec<u8>| {
        let odd_but_valid = name.starts_with("odd:");
        v.push((format!("inline {name}"), b, !odd_but_valid));
    };
    add("empty datagram", Vec::new());
    add("odd: CRLF keepalive only", b"\r\n\r\n".to_vec());
    add(
        "binary garbage",
        (0..512u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    );
    add(
        "request line only",
        b"REGISTER sip:127.0.0.1 SIP/2.0\r\n\r\n".to_vec(),
    );
    add(
        "header without colon",
        msg("OPTIONS", "This line has no colon\r\n", "0").into_bytes(),
    );
    add(
        "CSeq not a number",
        msg("OPTIONS", "", "0")
            .replace("CSeq: 1 OPTIONS", "CSeq: abc OPTIONS")
            .into_bytes(),
    );
    add(
        "CSeq method mismatch",
        msg("OPTIONS", "", "0")
            .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
            .into_bytes(),
    );
    add(
        "Max-Forwards not a number",
        msg("OPTIONS", "", "0")
            .replace("Max-Forwards: 70", "Max-Forwards: lots")
            .into_bytes(),
    );
    add(
        "negative Content-Length",
        msg("OPTIONS", "", "-5").into_bytes(),
    );
    add(
        "Content-Length beyond datagram",
        msg("OPTIONS", "", "99999").into_bytes(),
    );
    add(
        "Content-Length not a number",
        msg("OPTIONS", "", "ten").into_bytes(),
    );
    add(
        "NUL in header",
        msg("OPTIONS", "Subject: a\0b\r\n", "0").into_bytes(),
    );
    add("odd: invalid UTF-8", {
        let mut b = msg("OPTIONS", "Subject: XX\r\n", "0").into_bytes();
        if let Some(i) = b.windows(2).position(|w| w == b"XX") {
            b[i] = 0xff;
            b[i + 1] = 0xfe;
        }
        b
    });
    add(
        "no SIP version",
        msg("OPTIONS", "", "0")
            .replacen(" SIP/2.0\r\n", "\r\n", 1)
            .into_bytes(),
    );
    add(
        "SIP/7.0",
        msg("OPTIONS", "", "0")
            .replacen(" SIP/2.0\r\n", " SIP/7.0\r\n", 1)
            .into_bytes(),
    );
    add(
        "missing Call-ID",
        msg("OPTIONS", "", "0")
            .replace("Call-ID: ", "X-Was-Call-ID: ")
            .into_bytes(),
    );
    add(
        "missing Via",
        msg("OPTIONS", "", "0")
            .replace("Via: ", "X-Was-Via: ")
            .into_bytes(),
    );
    add("odd: huge request URI", {
        let long = "a".repeat(20_000);
        msg("OPTIONS", "", "0")
            .replacen("sip:127.0.0.1", &format!("sip:{long}@127.0.0.1"), 1)
            .into_bytes()
    });
    add("odd: thousands of headers", {
        let extra: String = (0..3000).map(|i| format!("X-H{i}: v\r\n")).collect();
        msg("OPTIONS", &extra, "0").into_bytes()
    });
    add(
        "odd: 60 KB header value",
        msg(
            "OPTIONS",
            &format!("Subject: {}\r\n", "z".repeat(60_000)),
            "0",
        )
        .into_bytes(),
    );
    add("odd: unsolicited response", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnope\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: nope\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".to_vec());
    v
}

/// A request template whose Via we rewrite to our socket (see `aim_via`).
fn msg(method: &str, extra: &str, content_length: &str) -> String {
    format!(
        "{method} sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{b}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:mal@127.0.0.1>;tag={t}\r\n\
         To: <sip:127.0.0.1>\r\n\
         Call-ID: {c}\r\n\
         CSeq: 1 {method}\r\n\
         {extra}\
         Content-Length: {content_length}\r\n\r\n",
        b = sip::unique("m"),
        t = sip::unique("t"),
        c = sip::unique("c"),
    )
}

/// Points every parseable `Via: SIP/2.0/UDP host[:port]` at our socket, so
/// that (a) any answer comes back to us and (b) the gateway never sends to
/// an address off this machine whatever a fixture's Via says.
fn aim_via(bytes: &[u8], local: SocketAddr) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        out.push_str(&rewrite_via_line(line, local).unwrap_or_else(|| line.to_string()));
    }
    out.into_bytes()
}

fn rewrite_via_line(line: &str, local: SocketAddr) -> Option<String> {
    let (name, value) = line.split_once(':')?;
    let n = name.trim();
    if !(n.eq_ignore_ascii_case("via") || n == "v") {
        return None;
    }
    let v = value.trim_start();
    let proto_end = v.find(char::is_whitespace)?;
    let proto = &v[..proto_end];
    if !proto.to_ascii_uppercase().starts_with("SIP/2.0/") {
        return None;
    }
    let rest = v[proto_end..].trim_start();
    let sent_by_end = rest.find([';', ',', '\r', '\n']).unwrap_or(rest.len());
    let tail = &rest[sent_by_end..];
    Some(format!("{name}: {proto} {local}{tail}"))
}

fn is_alive_and_serving(gw: &mut Gateway, what: &str) {
    assert!(
        gw.is_alive(),
        "gateway died after {what}; log:\n{}",
        gw.log()
    );
    let resp = sip::udp_options(gw.sip_addr());
    assert_eq!(
        resp.as_deref().and_then(status_code),
        Some(200),
        "OPTIONS after {what}: {resp:?}\n--- log ---\n{}",
        gw.log()
    );
}

#[test]
fn malformed_udp_input_is_rejected_or_dropped() {
    let mut gw = Gateway::builder().user("1001", "secret1001").start();
    let fixtures = fixtures();
    eprintln!(
        "{} fixtures from tests/fixtures/sip/malformed/ plus {} inline cases",
        fixtures.len(),
        inline_cases().len()
    );
    let cases: Vec<_> = fixtures.into_iter().chain(inline_cases()).collect();
    let sock = sip::udp_socket();
    let local = sock.local_addr().expect("local addr");
    let mut failures = Vec::new();
    for (name, bytes, must_reject) in &cases {
        sip::udp_drain(&sock);
        let data = aim_via(bytes, local);
        if data.len() > 65_507 {
            continue; // cannot be one UDP datagram; the TCP test covers size
        }
        match sip::udp_exchange(&sock, gw.sip_addr(), &data, Duration::from_millis(400)) {
            None => {}
            Some(_) if !must_reject => {}
            Some(resp) if resp.trim().is_empty() => {} // CRLF pong
            Some(resp) => match status_code(&resp) {
                Some(code) if REJECTIONS.contains(&code) => {}
                _ => failures.push(format!(
                    "{name}: answered\n{}\n--- to ---\n{}",
                    first_lines(&resp, 12),
                    first_lines(&String::from_utf8_lossy(&data), 12)
                )),
            },
        }
        if !gw.is_alive() {
            panic!("gateway died on {name}; log:\n{}", gw.log());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} malformed inputs got a non-error answer:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    is_alive_and_serving(&mut gw, "all malformed datagrams");
}

/// The first `n` lines, with control characters escaped and each line cut
/// at 200 characters, for readable failure messages.
fn first_lines(s: &str, n: usize) -> String {
    s.lines()
        .take(n)
        .map(|l| {
            l.chars()
                .take(200)
                .collect::<String>()
                .escape_debug()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `data` on a fresh TCP connection; the stream must be closed or
/// answered with a rejection.
fn tcp_case(gw: &Gateway, name: &str, data: &[u8]) -> Option<String> {
    let mut s = sip::tcp_connect(gw.sip_addr());
    match sip::tcp_exchange(&mut s, data, Duration::from_secs(3)) {
        TcpResult::Closed(_) => None,
        TcpResult::Open(text) => match status_code(&text) {
            Some(code) if REJECTIONS.contains(&code) => None,
            _ => Some(format!(
                "{name}: connection still open after 3 s, got {:?}",
                first_lines(&text, 8)
            )),
        },
    }
}

#[test]
fn malformed_tcp_streams_are_closed_or_rejected() {
    let mut gw = Gateway::builder().user("1001", "secret1001").start();
    let local = "127.0.0.1:9".parse().expect("addr");
    let tcp_msg = |cl: &str| {
        aim_via(
            msg("OPTIONS", "", cl)
                .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
                .as_bytes(),
            local,
        )
    };
    let mut failures = Vec::new();
    let mut garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 7) as u8)
        .collect();
    garbage.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", garbage),
        (
            "text garbage",
            b"HELLO THERE THIS IS NOT SIP\r\n\r\n".to_vec(),
        ),
        ("Content-Length not a number", tcp_msg("ten")),
        ("negative Content-Length", tcp_msg("-1")),
        ("Content-Length of 100 GB", tcp_msg("100000000000")),
        (
            "Content-Length overflowing u64",
            tcp_msg("99999999999999999999999"),
        ),
    ];
    for (name, data) in &cases {
        if let Some(f) = tcp_case(&gw, name, data) {
            failures.push(f);
        }
    }
    // Oversize: 2 MiB of headers with no end; the server must stop reading
    // (close) or reject rather than buffer it all.
    {
        let mut s = sip::tcp_connect(gw.sip_addr());
        let mut head = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n".to_vec();
        let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
        let mut result = TcpResult::Open(String::new());
        for _ in 0..2048 {
            head.extend_from_slice(line.as_bytes());
            if head.len() > 64 * 1024 {
                result = sip::tcp_exchange(&mut s, &head, Duration::from_millis(1));
                head.clear();
                if matches!(result, TcpResult::Closed(_)) {
                    break;
                }
            }
        }
        if let TcpResult::Open(_) = result {
            result = sip::tcp_exchange(&mut s, &head, Duration::from_secs(3));
        }
        match result {
            TcpResult::Closed(_) => {}
            TcpResult::Open(text)
                if status_code(&text).is_some_and(|c| REJECTIONS.contains(&c)) => {}
            TcpResult::Open(text) => failures.push(format!(
                "oversize (2 MiB of headers): still open, got {:?}",
                first_lines(&text, 8)
            )),
        }
    }
    assert!(
        gw.is_alive(),
        "gateway died on malformed TCP; log:\n{}",
        gw.log()
    );
    assert!(
        failures.is_empty(),
        "malformed TCP streams not closed or rejected:\n{}\n--- log ---\n{}",
        failures.join("\n"),
        gw.log()
    );
    // Still serves TCP and UDP.
    let mut s = sip::tcp_connect(gw.sip_addr());
    let l = s.local_addr().expect("local addr");
    let req = sip::request("OPTIONS", gw.sip_addr(), l, "TCP", "");
    let got = sip::tcp_exchange(&mut s, req.as_bytes(), Duration::from_secs(3));
    assert_eq!(
        status_code(got.text()),
        Some(200),
        "OPTIONS over TCP after abuse: {got:?}"
    );
    is_alive_and_serving(&mut gw, "malformed TCP streams");
}

#[test]
fn via_rewrite_keeps_the_rest() {
    let local: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
    let out = aim_via(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\nv: SIP/2.0/TCP host\r\n\r\n", local);
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:4000;branch=z9hG4bKx\r\nv: SIP/2.0/TCP 127.0.0.1:4000\r\n\r\n"
    );
}
