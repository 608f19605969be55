//! The registrar's CPU cost per registration, without sockets or SIPp: SIPp-shaped
//! REGISTER → 401 → REGISTER with digest → 200 flows pushed through `SipCore` on a
//! virtual clock (one flow every 100 µs of virtual time, so transactions pile up and
//! expire as in the network benchmark).
//!
//! Only the core's own work is timed (parse, transactions, digest check, registrar,
//! serialising the answers); the client's digest computation is not. Run it with the
//! allocator you want to measure, e.g. the box's:
//!
//! ```sh
//! cargo run --release --example register_core --target x86_64-unknown-linux-musl
//! cargo run --release --example register_core            # glibc, for comparison
//! valgrind --tool=callgrind target/.../examples/register_core 20000   # instructions
//! ```

use loopstart::sip::auth::{self, Algorithm, Challenge};
use loopstart::sip::core::{CoreConfig, Directory, SipCore};
use loopstart::sip::registrar::RegistrarPolicy;
use loopstart::sip::transaction::{Peer, TransportKind, TxConfig};
use loopstart::sip::wire::{parse_message, Framing, Limits, Message};
use std::time::{Duration, Instant};

const USERS: usize = 1000;
const SERVER: &str = "127.0.0.1:5060";

fn main() {
    let flows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);

    let mut dir = Directory::new("127.0.0.1", "127.0.0.1");
    for u in 0..USERS {
        dir.add_password(&user(u), &format!("pw{u}"));
    }
    let config = CoreConfig {
        profile: "internal".into(),
        index: 0,
        contact_host: SERVER.into(),
        nat: None,
        local_hosts: vec!["127.0.0.1".into()],
        limits: Limits::default(),
        tx: TxConfig::default(),
        registrar: RegistrarPolicy {
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            max_per_aor: 10,
            max_total: 100_000,
        },
        nonce_ttl: Duration::from_secs(30),
        algorithms: vec![Algorithm::Md5],
        accept_blind_reg: false,
        auth_calls: true,
        inbound_acl: None,
        register_acl: None,
        screen: None,
        user_agent: "loopstart-bench".into(),
    };
    let mut core = SipCore::new(config, dir, [7; 32], 1);
    let peer = Peer {
        addr: "127.0.0.1:5061".parse().expect("literal address"),
        transport: TransportKind::Udp,
    };

    let start_mono = Instant::now();
    let mut virtual_now = start_mono;
    let mut unix_ms = 1_795_000_000_000u64;
    let mut in_core = Duration::ZERO;
    let mut ok = 0usize;

    for i in 0..flows {
        virtual_now += Duration::from_micros(100);
        if i % 10 == 0 {
            unix_ms += 1;
        }
        let u = user(i % USERS);
        let first = register(&u, i, 1, None);

        let t = Instant::now();
        if core.poll_timeout().is_some_and(|at| at <= virtual_now) {
            core.handle_timeout(virtual_now, unix_ms);
        }
        core.handle_message(&first, peer, virtual_now, unix_ms);
        let challenge = core.poll_transmit();
        in_core += t.elapsed();

        let Some(challenge) = challenge else {
            panic!("flow {i}: no answer to the first REGISTER");
        };
        let Ok(Message::Response(resp)) =
            parse_message(&challenge.bytes, Framing::Datagram, &Limits::default())
        else {
            panic!("flow {i}: the core sent something unparseable");
        };
        assert_eq!(resp.status.code, 401, "flow {i}");
        let www = resp.headers.get("WWW-Authenticate").expect("a challenge");
        let ch = Challenge::parse(www).expect("a valid challenge");
        let creds = auth::answer(
            &ch,
            "REGISTER",
            &format!("sip:{SERVER}"),
            &u,
            &format!("pw{}", i % USERS),
            "0a4f113b",
            1,
        );
        let second = register(&u, i, 2, Some(&creds.to_string()));

        let t = Instant::now();
        core.handle_message(&second, peer, virtual_now, unix_ms);
        let answer = core.poll_transmit();
        while core.poll_store_op().is_some() {}
        while core.poll_notice().is_some() {}
        in_core += t.elapsed();

        if let Some(a) = answer {
            if a.bytes.starts_with(b"SIP/2.0 200") {
                ok += 1;
            }
        }
    }
    assert_eq!(ok, flows, "every flow must end in 200 OK");
    let per_flow = in_core.as_nanos() as f64 / flows as f64;
    println!(
        "register_core: {flows} registrations, {:.2} µs of core time per registration \
         ({:.2} µs per message), {:.0} registrations/s of core time",
        per_flow / 1000.0,
        per_flow / 2000.0,
        1e9 / per_flow
    );
}

fn user(n: usize) -> String {
    format!("{}", 100_000 + n)
}

/// The request SIPp's tests/sipp/register.xml sends, byte for byte in shape.
fn register(user: &str, call: usize, cseq: u32, auth: Option<&str>) -> Vec<u8> {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:{SERVER} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-{call}-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@127.0.0.1>;tag=4242SIPpTag00{call}\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: {call}-4242@127.0.0.1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.1:5061;transport=UDP>\r\n\
         {auth}Expires: 3600\r\n\
         User-Agent: SIPp-loopstart-tests\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}
