//! The transaction machines under a virtual clock.

use super::*;
use crate::sip::wire::{parse_message, Framing, Limits, Method, Response};

fn req(method: &str, branch: &str) -> Request {
    let cseq_method = if method == "ACK" { "INVITE" } else { method };
    let cseq_method = if method == "CANCEL" {
        "CANCEL"
    } else {
        cseq_method
    };
    let raw = format!(
        "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: call-1\r\nCSeq: 1 {cseq_method}\r\nContent-Length: 0\r\n\r\n"
    );
    match parse_message(raw.as_bytes(), Framing::Datagram, &Limits::default()).unwrap() {
        Message::Request(r) => r,
        _ => unreachable!(),
    }
}

fn udp() -> Peer {
    Peer {
        addr: "192.0.2.1:5060".parse().unwrap(),
        transport: TransportKind::Udp,
    }
}

fn tcp() -> Peer {
    Peer {
        transport: TransportKind::Tcp,
        ..udp()
    }
}

fn drain(l: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn parsed(t: &Transmit) -> Message {
    parse_message(&t.bytes, Framing::Datagram, &Limits::default()).unwrap()
}

fn code(t: &Transmit) -> u16 {
    match &parsed(t) {
        Message::Response(r) => r.status.code,
        Message::Request(_) => 0,
    }
}

/// Runs the clock from `t0` to `until`, recording at which offsets (ms) something was sent.
fn run(l: &mut TransactionLayer, t0: Instant, until: Duration) -> Vec<u128> {
    let mut sent = Vec::new();
    while let Some(at) = l.poll_timeout() {
        if at > t0 + until {
            break;
        }
        l.handle_timeout(at);
        for _ in drain(l) {
            sent.push((at - t0).as_millis());
        }
    }
    sent
}

fn resp(r: &Request, code: u16) -> Response {
    let mut resp = Response::to_request(r, code, "X");
    resp.set_to_tag("t1");
    resp
}

#[test]
fn non_invite_server_absorbs_and_expires_after_timer_j() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("REGISTER", "z9hG4bKa");
    let Incoming::New { tx, .. } = l.on_request(r.clone(), udp(), t0) else {
        panic!("new")
    };
    assert!(matches!(
        l.on_request(r.clone(), udp(), t0),
        Incoming::Absorbed
    ));
    assert!(
        drain(&mut l).is_empty(),
        "nothing to resend before a response"
    );
    l.respond(tx, resp(&r, 200), t0);
    assert_eq!(drain(&mut l).len(), 1);
    assert!(matches!(
        l.on_request(r.clone(), udp(), t0),
        Incoming::Absorbed
    ));
    let again = drain(&mut l);
    assert_eq!(again.len(), 1);
    assert_eq!(code(&again[0]), 200);
    l.handle_timeout(t0 + Duration::from_millis(31_999));
    assert_eq!(l.stats().server, 1);
    l.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(l.stats().server, 0);
    assert!(matches!(
        l.on_request(r, udp(), t0 + Duration::from_secs(33)),
        Incoming::New { .. }
    ));
}

#[test]
fn non_invite_server_over_tcp_ends_at_once() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("OPTIONS", "z9hG4bKt");
    let Incoming::New { tx, .. } = l.on_request(r.clone(), tcp(), t0) else {
        panic!()
    };
    l.respond(tx, resp(&r, 200), t0);
    assert_eq!(l.stats().server, 0);
}

#[test]
fn invite_server_sends_100_retransmits_486_until_ack() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("INVITE", "z9hG4bKi");
    let Incoming::New { tx, .. } = l.on_request(r.clone(), udp(), t0) else {
        panic!()
    };
    let first = drain(&mut l);
    assert_eq!(code(&first[0]), 100);
    l.respond(tx, resp(&r, 486), t0);
    assert_eq!(code(&drain(&mut l)[0]), 486);
    let sent = run(&mut l, t0, Duration::from_millis(16_000));
    assert_eq!(sent, vec![500, 1500, 3500, 7500, 11_500, 15_500]);
    let ack = req("ACK", "z9hG4bKi");
    assert!(matches!(l.on_request(ack, udp(), t0), Incoming::Absorbed));
    let after = run(&mut l, t0, Duration::from_secs(60));
    assert!(after.is_empty(), "no retransmission after ACK: {after:?}");
    assert_eq!(l.stats().server, 0, "Timer I ended it");
}

#[test]
fn invite_server_timer_h_without_ack() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("INVITE", "z9hG4bKh");
    let Incoming::New { tx, .. } = l.on_request(r.clone(), udp(), t0) else {
        panic!()
    };
    l.respond(tx, resp(&r, 480), t0);
    run(&mut l, t0, Duration::from_secs(40));
    let events: Vec<TxEvent> = std::iter::from_fn(|| l.poll_event()).collect();
    assert!(events.contains(&TxEvent::Timeout { tx }));
}

#[test]
fn ack_for_2xx_and_cancel_lookup() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("INVITE", "z9hG4bKc");
    let Incoming::New { tx, .. } = l.on_request(r.clone(), udp(), t0) else {
        panic!()
    };
    let cancel = req("CANCEL", "z9hG4bKc");
    assert_eq!(l.find_invite_for_cancel(&cancel), Some(tx));
    assert!(matches!(
        l.on_request(cancel, udp(), t0),
        Incoming::New { .. }
    ));
    l.respond(tx, resp(&r, 200), t0);
    let ack = req("ACK", "z9hG4bKnew");
    assert!(matches!(
        l.on_request(ack, udp(), t0),
        Incoming::AckFor2xx { .. }
    ));
}

#[test]
fn rfc2543_requests_match_without_branch() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let r = req("OPTIONS", "oldstyle1");
    assert!(matches!(
        l.on_request(r.clone(), udp(), t0),
        Incoming::New { .. }
    ));
    assert!(matches!(l.on_request(r, udp(), t0), Incoming::Absorbed));
}

#[test]
fn client_non_invite_schedule_and_timer_f() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let tx = l.send_request(req("OPTIONS", "z9hG4bKo"), udp(), t0);
    assert_eq!(drain(&mut l).len(), 1);
    let sent = run(&mut l, t0, Duration::from_secs(40));
    assert_eq!(
        sent,
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    let events: Vec<TxEvent> = std::iter::from_fn(|| l.poll_event()).collect();
    assert!(events.contains(&TxEvent::Timeout { tx }));
}

#[test]
fn client_invite_auto_acks_failures_once_per_retransmission() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let invite = req("INVITE", "z9hG4bKci");
    let tx = l.send_request(invite.clone(), udp(), t0);
    drain(&mut l);
    let sent = run(&mut l, t0, Duration::from_millis(4000));
    assert_eq!(sent, vec![500, 1500, 3500], "Timer A doubles");
    let busy = resp(&invite, 486);
    let (got, r) = l.on_response(busy.clone(), t0).unwrap();
    assert_eq!((got, r.status.code), (tx, 486));
    let acks = drain(&mut l);
    assert_eq!(acks.len(), 1);
    let Message::Request(ack) = &parsed(&acks[0]) else {
        panic!("ACK expected")
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.headers.to().unwrap().tag(), Some("t1"));
    assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bKci"));
    assert!(
        l.on_response(busy, t0).is_none(),
        "retransmitted final absorbed"
    );
    assert_eq!(drain(&mut l).len(), 1, "...and ACKed again");
}

#[test]
fn client_invite_timer_b() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    let tx = l.send_request(req("INVITE", "z9hG4bKb"), udp(), t0);
    run(&mut l, t0, Duration::from_secs(33));
    let events: Vec<TxEvent> = std::iter::from_fn(|| l.poll_event()).collect();
    assert!(events.contains(&TxEvent::Timeout { tx }));
    assert_eq!(l.stats().client, 0);
}

#[test]
fn unknown_branch_response_is_not_for_anyone() {
    let mut l = TransactionLayer::new(TxConfig::default());
    assert!(l
        .on_response(resp(&req("OPTIONS", "z9hG4bKzz"), 200), Instant::now())
        .is_none());
}

#[test]
fn full_table_evicts_completed_then_overloads() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig {
        max_transactions: 2,
        ..TxConfig::default()
    });
    let a = req("REGISTER", "z9hG4bK1");
    let Incoming::New { tx, .. } = l.on_request(a.clone(), udp(), t0) else {
        panic!()
    };
    l.respond(tx, resp(&a, 200), t0);
    assert!(matches!(
        l.on_request(req("REGISTER", "z9hG4bK2"), udp(), t0),
        Incoming::New { .. }
    ));
    assert!(matches!(
        l.on_request(req("REGISTER", "z9hG4bK3"), udp(), t0),
        Incoming::New { .. }
    ));
    assert_eq!(l.stats().evicted, 1);
    assert!(matches!(
        l.on_request(req("REGISTER", "z9hG4bK4"), udp(), t0),
        Incoming::Overloaded { .. }
    ));
}

#[test]
fn a_thousand_transactions_in_milliseconds() {
    let t0 = Instant::now();
    let started = std::time::Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    for i in 0..1000 {
        l.send_request(req("OPTIONS", &format!("z9hG4bKm{i}")), udp(), t0);
    }
    assert_eq!(drain(&mut l).len(), 1000);
    let sent = run(&mut l, t0, Duration::from_secs(40));
    assert_eq!(sent.len(), 1000 * 10);
    assert_eq!(l.stats().client, 0);
    assert_eq!(l.stats().timeouts, 1000);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn tables_give_memory_back_after_a_burst() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TxConfig::default());
    for i in 0..2000 {
        let r = req("REGISTER", &format!("z9hG4bKburst{i}"));
        let Incoming::New { tx, .. } = l.on_request(r.clone(), udp(), t0) else {
            panic!("new")
        };
        l.respond(tx, resp(&r, 200), t0);
    }
    drain(&mut l);
    let peak = l.txs.capacity() + l.by_key.capacity() + l.timers.capacity();
    assert!(peak >= 6000, "{peak}");
    // Timer J ends them all; one transaction arrives afterwards.
    l.handle_timeout(t0 + Duration::from_secs(33));
    assert_eq!(l.stats().server, 0);
    let r = req("REGISTER", "z9hG4bKlate");
    assert!(matches!(
        l.on_request(r, udp(), t0 + Duration::from_secs(34)),
        Incoming::New { .. }
    ));
    let after = l.txs.capacity() + l.by_key.capacity() + l.timers.capacity();
    assert!(
        after < 400,
        "capacity kept after the burst: {after} (peak {peak})"
    );
}
