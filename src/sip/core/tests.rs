//! The core driven like the network would, with a virtual clock.

use super::*;
use crate::sip::auth::{self, Challenge};
use crate::sip::transaction::{Peer, TransportKind, TxConfig};
use crate::sip::wire::{
    parse_message, Essentials, Framing, Limits, Message, Method, Request, Response,
};

const DOMAIN: &str = "example.test";

pub(crate) fn core() -> SipCore {
    core_with(|_| {})
}

/// [`core`] with its configuration changed by `edit`.
pub(crate) fn core_with(edit: impl FnOnce(&mut CoreConfig)) -> SipCore {
    let mut dir = Directory::new(DOMAIN, DOMAIN);
    dir.add_password("1001", "secret1001");
    dir.add_password("1002", "secret1002");
    let config = CoreConfig {
        profile: "internal".into(),
        index: 0,
        contact_host: "127.0.0.1:5060".into(),
        nat: None,
        register_acl: None,
        screen: None,
        local_hosts: vec!["127.0.0.1".into()],
        limits: Limits::default(),
        tx: TxConfig::default(),
        registrar: RegistrarPolicy {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_per_aor: 3,
            max_total: 10_000,
        },
        nonce_ttl: Duration::from_secs(60),
        algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        accept_blind_reg: false,
        auth_calls: false,
        inbound_acl: Some(super::AddressCheck(std::sync::Arc::new(|_| true))),
        user_agent: "loopstart-test".into(),
    };
    let mut config = config;
    edit(&mut config);
    SipCore::new(config, dir, [9; 32], 42)
}

pub(in crate::sip::core) fn phone() -> Peer {
    Peer {
        addr: "127.0.0.2:5070".parse().unwrap(),
        transport: TransportKind::Udp,
    }
}

pub(in crate::sip::core) struct Clock {
    pub mono: Instant,
    pub unix_ms: u64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            mono: Instant::now(),
            unix_ms: 1_795_000_000_000,
        }
    }
    pub fn advance(&mut self, d: Duration) {
        self.mono += d;
        self.unix_ms += d.as_millis() as u64;
    }
}

fn register(user: &str, branch: &str, cseq: u32, expires: &str, auth: Option<&str>) -> Vec<u8> {
    let mut m = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{DOMAIN}>;tag=ft{branch}\r\n\
         To: <sip:{user}@{DOMAIN}>\r\n\
         Call-ID: call-{user}@127.0.0.2\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.2:5070>\r\n\
         Expires: {expires}\r\n\
         User-Agent: test-phone\r\n"
    );
    if let Some(a) = auth {
        m.push_str(&format!("Authorization: {a}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m.into_bytes()
}

fn responses(core: &mut SipCore) -> Vec<Response> {
    let mut out = Vec::new();
    while let Some(d) = core.poll_transmit() {
        match parse_message(&d.bytes, Framing::Datagram, &Limits::default()) {
            Ok(Message::Response(r)) => out.push(r),
            other => panic!("core sent something that is not a response: {other:?}"),
        }
    }
    out
}

fn one_response(core: &mut SipCore) -> Response {
    let mut r = responses(core);
    assert_eq!(r.len(), 1, "expected exactly one response, got {r:?}");
    r.remove(0)
}

/// REGISTER → 401 → REGISTER with the answer; returns the final response.
fn register_with_password(
    core: &mut SipCore,
    clock: &Clock,
    user: &str,
    password: &str,
    cseq: u32,
    expires: &str,
) -> Response {
    core.handle_message(
        &register(user, &format!("a{user}x{cseq}"), cseq, expires, None),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    let challenge = one_response(core);
    assert_eq!(challenge.status.code, 401);
    let header = challenge
        .headers
        .get_all("WWW-Authenticate")
        .into_iter()
        .map(|v| Challenge::parse(v).unwrap())
        .find(|c| c.algorithm == Algorithm::Md5)
        .expect("an MD5 challenge");
    let creds = auth::answer(
        &header,
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        user,
        password,
        "cnonce1",
        1,
    );
    core.handle_message(
        &register(
            user,
            &format!("b{user}x{cseq}"),
            cseq + 1,
            expires,
            Some(&creds.to_string()),
        ),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    one_response(core)
}

#[test]
fn register_challenge_then_success_lists_binding() {
    let mut core = core();
    let clock = Clock::new();
    let ok = register_with_password(&mut core, &clock, "1001", "secret1001", 1, "600");
    assert_eq!(ok.status.code, 200);
    let contacts = ok.headers.get_all("Contact");
    assert_eq!(contacts.len(), 1);
    assert!(contacts[0].contains("expires=600"), "{contacts:?}");
    assert_eq!(core.registrar().location.len(), 1);
    let b = &core.registrar().location.bindings("1001@example.test")[0];
    assert_eq!(b.source, "127.0.0.2:5070");
    assert!(matches!(
        core.poll_store_op(),
        Some(StoreOp::Put(_, Durability::Critical))
    ));
}

#[test]
fn new_bindings_and_unregistrations_must_be_durable_refreshes_need_not() {
    let mut core = core();
    let clock = Clock::new();
    let durabilities = |core: &mut SipCore| {
        let mut v = Vec::new();
        while let Some(op) = core.poll_store_op() {
            v.push(op.durability());
        }
        v
    };
    register_with_password(&mut core, &clock, "1001", "secret1001", 1, "600");
    assert!(
        core.needs_sync(),
        "a new binding is acknowledged only once on disk"
    );
    assert_eq!(durabilities(&mut core), [Durability::Critical]);
    // The same phone, same Call-ID and source: only the expiry moves on.
    let ok = register_with_password(&mut core, &clock, "1001", "secret1001", 3, "600");
    assert_eq!(ok.status.code, 200);
    assert!(!core.needs_sync(), "a refresh needs no fsync");
    assert_eq!(durabilities(&mut core), [Durability::Lazy]);
    let ok = register_with_password(&mut core, &clock, "1001", "secret1001", 5, "0");
    assert_eq!(ok.status.code, 200);
    assert!(
        core.needs_sync(),
        "an unregistration is acknowledged only once on disk"
    );
    assert_eq!(durabilities(&mut core), [Durability::Critical]);
}

#[test]
fn challenge_offers_sha256_first_and_md5() {
    let mut core = core();
    let clock = Clock::new();
    core.handle_message(
        &register("1001", "x", 1, "600", None),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    let r = one_response(&mut core);
    let algs: Vec<Algorithm> = r
        .headers
        .get_all("WWW-Authenticate")
        .into_iter()
        .map(|v| Challenge::parse(v).unwrap().algorithm)
        .collect();
    assert_eq!(algs, vec![Algorithm::Sha256, Algorithm::Md5]);
    // rport was filled in on the way back.
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.params.get("rport"), Some(Some("5070")));
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let clock = Clock::new();
    let mut a = core();
    let wrong = register_with_password(&mut a, &clock, "1001", "nope", 1, "600");
    let mut b = core();
    let unknown = register_with_password(&mut b, &clock, "9999", "nope", 1, "600");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.status.code, 403);
    let names = |r: &Response| {
        r.headers
            .iter()
            .map(|h| h.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&wrong), names(&unknown));
    assert_eq!(a.registrar().location.len(), 0);
    assert_eq!(a.stats().auth_failures, 1);
    // Only the guard is told which it was.
    let failure = |core: &mut SipCore| {
        std::iter::from_fn(|| core.poll_notice()).find_map(|n| match n {
            CoreNotice::AuthFailed {
                method, user_known, ..
            } => Some((method, user_known)),
            _ => None,
        })
    };
    assert_eq!(failure(&mut a), Some((Method::Register, true)));
    assert_eq!(failure(&mut b), Some((Method::Register, false)));
}

#[test]
fn a_request_the_screen_refuses_is_dropped_unanswered() {
    let screen = RequestScreen(std::sync::Arc::new(
        |_ip, req: &Request, _es: &Essentials| {
            req.headers.get("User-Agent") == Some("friendly-scanner")
        },
    ));
    let mut core = core_with(|c| c.screen = Some(screen));
    let clock = Clock::new();
    let probe = String::from_utf8(register("1001", "scan", 1, "600", None))
        .unwrap()
        .replace("User-Agent: test-phone", "User-Agent: friendly-scanner");
    assert!(probe.contains("friendly-scanner"));
    core.handle_message(probe.as_bytes(), phone(), clock.mono, clock.unix_ms);
    assert!(responses(&mut core).is_empty());
    assert_eq!(core.stats().screened, 1);
    // Anything else is let through.
    core.handle_message(
        &register("1001", "phone", 1, "600", None),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert_eq!(one_response(&mut core).status.code, 401);
    assert_eq!(core.stats().screened, 1);
}

#[test]
fn retransmitted_register_is_absorbed_and_answered_again() {
    let mut core = core();
    let clock = Clock::new();
    let msg = register("1001", "dup", 1, "600", None);
    core.handle_message(&msg, phone(), clock.mono, clock.unix_ms);
    let first = one_response(&mut core);
    core.handle_message(&msg, phone(), clock.mono, clock.unix_ms);
    let again = one_response(&mut core);
    assert_eq!(first.to_bytes(), again.to_bytes());
    assert_eq!(core.stats().retransmissions, 1);
}

#[test]
fn expiry_removes_binding_on_the_virtual_clock() {
    let mut core = core();
    let mut clock = Clock::new();
    let ok = register_with_password(&mut core, &clock, "1001", "secret1001", 1, "60");
    assert_eq!(ok.status.code, 200);
    clock.advance(Duration::from_secs(59));
    core.handle_timeout(clock.mono, clock.unix_ms);
    assert_eq!(core.registrar().location.len(), 1);
    let wake = core.poll_timeout().expect("a wake-up for the expiry");
    assert!(wake <= clock.mono + Duration::from_secs(1));
    clock.advance(Duration::from_secs(2));
    core.handle_timeout(clock.mono, clock.unix_ms);
    assert_eq!(core.registrar().location.len(), 0);
}

#[test]
fn too_brief_interval_gets_423_with_min_expires() {
    let mut core = core();
    let clock = Clock::new();
    let r = register_with_password(&mut core, &clock, "1001", "secret1001", 1, "10");
    assert_eq!(r.status.code, 423);
    assert_eq!(r.headers.get("Min-Expires"), Some("60"));
}

#[test]
fn expires_zero_unregisters() {
    let mut core = core();
    let clock = Clock::new();
    assert_eq!(
        register_with_password(&mut core, &clock, "1001", "secret1001", 1, "600")
            .status
            .code,
        200
    );
    let r = register_with_password(&mut core, &clock, "1001", "secret1001", 10, "0");
    assert_eq!(r.status.code, 200);
    assert_eq!(core.registrar().location.len(), 0);
}

#[test]
fn options_405_and_483() {
    let mut core = core();
    let clock = Clock::new();
    let req = |method: &str, mf: u32| {
        format!(
            "{method} sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{method}{mf}\r\n\
             Max-Forwards: {mf}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: c{method}\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    core.handle_message(&req("OPTIONS", 70), phone(), clock.mono, clock.unix_ms);
    let r = one_response(&mut core);
    assert_eq!(r.status.code, 200);
    assert!(r.headers.get("Allow").unwrap().contains("REGISTER"));
    core.handle_message(&req("SUBSCRIBE", 70), phone(), clock.mono, clock.unix_ms);
    let r = one_response(&mut core);
    assert_eq!(r.status.code, 405);
    assert_eq!(r.headers.get("Allow"), Some(ALLOW));
    core.handle_message(&req("MESSAGE", 0), phone(), clock.mono, clock.unix_ms);
    assert_eq!(one_response(&mut core).status.code, 483);
}

#[test]
fn malformed_gets_400_with_reason_or_nothing() {
    let mut core = core();
    let clock = Clock::new();
    // CSeq number overflows 32 bits: addressable, so 400.
    let bad = b"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbad\r\n\
From: <sip:1001@example.test>;tag=1\r\nTo: <sip:1001@example.test>\r\nCall-ID: x\r\n\
CSeq: 99999999999 REGISTER\r\nContent-Length: 0\r\n\r\n";
    core.handle_message(bad, phone(), clock.mono, clock.unix_ms);
    let r = one_response(&mut core);
    assert_eq!(r.status.code, 400);
    assert!(
        r.status.reason.starts_with("Bad Request"),
        "{}",
        r.status.reason
    );
    // Garbage: nothing to answer.
    core.handle_message(b"\x00\x01garbage", phone(), clock.mono, clock.unix_ms);
    assert!(responses(&mut core).is_empty());
    assert!(core.stats().parse_errors >= 1);
}

#[test]
fn thousand_registrations_in_milliseconds() {
    let mut dir = Directory::new(DOMAIN, DOMAIN);
    for i in 0..1000 {
        dir.add_password(&format!("u{i}"), "pw");
    }
    let mut c = core();
    c.directory = dir;
    let mut clock = Clock::new();
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let r = register_with_password(&mut c, &clock, &format!("u{i}"), "pw", 1, "120");
        assert_eq!(r.status.code, 200, "user u{i}");
    }
    assert_eq!(c.registrar().location.len(), 1000);
    // Run the clock through every transaction timer and the expiry.
    for _ in 0..10_000 {
        let Some(at) = c.poll_timeout() else { break };
        if at > clock.mono {
            let step = at - clock.mono;
            clock.advance(step);
        }
        c.handle_timeout(clock.mono, clock.unix_ms);
        if c.registrar().location.is_empty() && c.stats().transactions == 0 {
            break;
        }
    }
    assert_eq!(c.registrar().location.len(), 0);
    assert_eq!(c.stats().transactions, 0);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a1_hash_users_register_and_bad_hashes_are_refused() {
    let mut c = core();
    let a1 = auth::ha1(Algorithm::Md5, "1003", DOMAIN, "pw3");
    assert!(c.directory.add_a1_hash("1003", &a1.to_uppercase()));
    assert!(!c.directory.add_a1_hash("1004", "not-hex"));
    let clock = Clock::new();
    let ok = register_with_password(&mut c, &clock, "1003", "pw3", 1, "600");
    assert_eq!(ok.status.code, 200);
    let bad = register_with_password(&mut c, &clock, "1003", "wrong", 5, "600");
    assert_eq!(bad.status.code, 403);
}

/// Every fixture, and byte-flipped variants of each, through the whole core (parser,
/// transactions, registrar, digest): nothing panics, and whatever it sends is a
/// well-formed response.
#[test]
fn hostile_datagrams_never_panic_the_core() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sip");
    let mut inputs = Vec::new();
    for kind in ["valid", "malformed"] {
        for entry in std::fs::read_dir(dir.join(kind)).unwrap().flatten() {
            inputs.push(std::fs::read(entry.path()).unwrap());
        }
    }
    assert!(inputs.len() > 40);
    let mut c = core();
    let mut clock = Clock::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for input in &inputs {
        for round in 0..200 {
            let mut b = input.clone();
            if round > 0 && !b.is_empty() {
                for _ in 0..1 + next() % 3 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            c.handle_message(&b, phone(), clock.mono, clock.unix_ms);
            clock.advance(Duration::from_millis(3));
            c.handle_timeout(clock.mono, clock.unix_ms);
            while let Some(d) = c.poll_transmit() {
                assert!(
                    matches!(
                        parse_message(&d.bytes, Framing::Datagram, &Limits::default()),
                        Ok(Message::Response(_))
                    ),
                    "the core sent something that is not a valid response"
                );
            }
            while c.poll_store_op().is_some() {}
            while c.poll_notice().is_some() {}
        }
    }
}
