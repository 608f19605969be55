//! Tests for the message model and the mandatory-header checks.

use super::*;

#[test]
fn compact_and_case_insensitive_lookup() {
    let mut h = Headers::new();
    h.push("i", "abc");
    h.push(
        "v",
        "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
    );
    h.push("X-Custom", "keep, me");
    assert_eq!(h.get("call-id"), Some("abc"));
    assert_eq!(h.iter().next().unwrap().name, "Call-ID");
    assert_eq!(h.get_all("Via").len(), 2);
    assert_eq!(h.vias().unwrap()[1].branch(), Some("z9hG4bK2"));
    h.push("WWW-Authenticate", "Digest realm=\"a\", nonce=\"b\"");
    assert_eq!(h.get_all("www-authenticate").len(), 1);
    h.set("Call-ID", "x");
    assert_eq!(h.get("i"), Some("x"));
    h.remove("X-CUSTOM");
    assert!(h.get("X-Custom").is_none());
}

#[test]
fn commas_in_quotes_and_brackets_do_not_split() {
    let mut out = Vec::new();
    split_commas("\"Doe, J\" <sip:a@b>, <sip:c@d;x=1,2>", &mut out);
    assert_eq!(out, vec!["\"Doe, J\" <sip:a@b>", "<sip:c@d;x=1,2>"]);
}

fn req(extra_or_replace: &[(&str, &str)]) -> Request {
    let mut text = String::from(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: c1\r\n\
         CSeq: 5 INVITE\r\n\
         Contact: <sip:alice@192.0.2.1>\r\n\r\n",
    );
    for (from, to) in extra_or_replace {
        text = text.replacen(from, to, 1);
    }
    match super::super::parse_message(
        text.as_bytes(),
        super::super::Framing::Datagram,
        &super::super::Limits::default(),
    ) {
        Ok(Message::Request(r)) => r,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn check_mandatory_gives_precise_reasons() {
    let es = check_mandatory(&req(&[])).expect("the base request is valid");
    // What was read comes back, so nobody parses it again.
    assert_eq!(es.cseq.seq, 5);
    assert_eq!(
        es.top_via.branch(),
        req(&[]).headers.top_via().unwrap().branch()
    );
    assert_eq!(es.to, req(&[]).headers.to().unwrap());
    assert_eq!(es.from, req(&[]).headers.from().unwrap());
    assert_eq!(es.contacts, req(&[]).headers.contacts().unwrap());
    // ACK and CANCEL carry their own method in CSeq, like everything else.
    for m in ["ACK", "CANCEL", "BYE"] {
        let r = req(&[
            ("INVITE sip", &format!("{m} sip")),
            ("5 INVITE", &format!("5 {m}")),
        ]);
        assert!(check_mandatory(&r).is_ok(), "{m}");
    }
    // (change, kind, words the reason must contain)
    let cases: &[(&str, &str, ParseErrorKind, &str)] = &[
        (
            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n",
            "",
            ParseErrorKind::MissingHeader,
            "missing Via",
        ),
        (
            "From: <sip:alice@example.com>;tag=1\r\n",
            "",
            ParseErrorKind::MissingHeader,
            "missing From",
        ),
        (
            "To: <sip:bob@example.com>\r\n",
            "",
            ParseErrorKind::MissingHeader,
            "missing To",
        ),
        (
            "Call-ID: c1\r\n",
            "",
            ParseErrorKind::MissingHeader,
            "missing Call-ID",
        ),
        (
            "CSeq: 5 INVITE\r\n",
            "",
            ParseErrorKind::MissingHeader,
            "missing CSeq",
        ),
        (
            "5 INVITE",
            "5 BYE",
            ParseErrorKind::BadHeaderValue,
            "CSeq method BYE does not match INVITE",
        ),
        (
            "5 INVITE",
            "5 invite",
            ParseErrorKind::BadHeaderValue,
            "does not match",
        ),
        (
            "5 INVITE",
            "4294967296 INVITE",
            ParseErrorKind::BadHeaderValue,
            "32-bit",
        ),
        (
            "5 INVITE",
            "5 INV@ITE",
            ParseErrorKind::BadHeaderValue,
            "token",
        ),
        ("5 INVITE", "5", ParseErrorKind::BadHeaderValue, "CSeq"),
        (
            "Max-Forwards: 70",
            "Max-Forwards: 256",
            ParseErrorKind::BadHeaderValue,
            "Max-Forwards",
        ),
        (
            "Max-Forwards: 70",
            "Max-Forwards: -1",
            ParseErrorKind::BadHeaderValue,
            "Max-Forwards",
        ),
        (
            "Call-ID: c1",
            "Call-ID: c1\r\nCall-ID: c2",
            ParseErrorKind::BadHeaderValue,
            "more than one Call-ID",
        ),
        (
            "Call-ID: c1",
            "Call-ID: c 1",
            ParseErrorKind::BadHeaderValue,
            "Call-ID",
        ),
        (
            "SIP/2.0/UDP 192.0.2.1",
            "SIP/2.0/UDP 192.0.2.1:0",
            ParseErrorKind::BadHeaderValue,
            "Via",
        ),
        (
            "<sip:alice@example.com>;tag=1",
            "<sip:alice@example.com;tag=1",
            ParseErrorKind::BadHeaderValue,
            "From",
        ),
        (
            "<sip:alice@192.0.2.1>",
            "<sip:alice@192.0.2.1>;;",
            ParseErrorKind::BadHeaderValue,
            "Contact",
        ),
        (
            "Contact:",
            "Expires: 1e3\r\nContact:",
            ParseErrorKind::BadHeaderValue,
            "Expires",
        ),
    ];
    for (from, to, kind, words) in cases {
        let e = check_mandatory(&req(&[(from, to)])).expect_err(from);
        assert_eq!(&e.kind, kind, "{from} -> {to}: {}", e.detail);
        assert!(e.detail.contains(words), "{from} -> {to}: {:?}", e.detail);
    }
    assert_eq!(
        req(&[("Max-Forwards: 70", "Max-Forwards: 255")])
            .headers
            .max_forwards(),
        Ok(Some(255))
    );
}

#[test]
fn responses_to_requests_and_to_salvage() {
    let r = req(&[("Via: SIP", "Via: SIP/2.0/TCP h2;branch=z9hG4bK0, SIP")]);
    let mut resp = Response::to_request(&r, 200, "OK");
    assert_eq!(resp.headers.get_all("Via").len(), 2);
    assert!(resp.headers.get("Contact").is_none());
    check_response(&resp).unwrap();
    resp.set_to_tag("abc");
    assert_eq!(resp.headers.to().unwrap().tag(), Some("abc"));
    resp.set_to_tag("other");
    assert_eq!(resp.headers.to().unwrap().tag(), Some("abc"));
    // A tag-looking parameter that is not `tag`, and a '>' inside a quoted value.
    for to in ["<sip:b@c>;tagx=1", "<sip:b@c>;x=\"<y>\""] {
        let mut h = Headers::new();
        h.push("Via", "SIP/2.0/UDP h;branch=z9hG4bK1");
        h.push("To", to);
        let mut resp = Response::to_headers(&h, 180, "Ringing").unwrap();
        resp.set_to_tag("t1");
        assert_eq!(resp.headers.to().unwrap().tag(), Some("t1"), "{to}");
    }
    let mut odd = Headers::new();
    odd.push("Via", "SIP/2.0/UDP h;branch=z9hG4bK1");
    odd.push("To", "<sip:b@c>;aaé");
    let mut resp = Response::to_headers(&odd, 400, "Bad").unwrap();
    resp.set_to_tag("t2");
    assert!(resp.headers.get("To").unwrap().ends_with(";tag=t2"));
    // No Via: nowhere to answer.
    assert!(Response::to_headers(&Headers::new(), 400, "Bad").is_none());
    let bad = Response {
        status: StatusLine {
            code: 200,
            reason: "OK".into(),
        },
        headers: Headers::new(),
        body: Vec::new(),
    };
    assert_eq!(
        check_response(&bad).unwrap_err().kind,
        ParseErrorKind::MissingHeader
    );
}

#[test]
fn headers_editing_keeps_order() {
    let mut h = Headers::new();
    h.push(
        "Via",
        "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
    );
    h.push("Via", "SIP/2.0/UDP c;branch=z9hG4bK3");
    h.push("X-A", "1");
    h.push("x-a", "2");
    let mut top = h.top_via().unwrap();
    top.params.set("received", Some("192.0.2.7"));
    h.set_top_via(&top);
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].params.get("received"), Some(Some("192.0.2.7")));
    assert_eq!(vias[1].branch(), Some("z9hG4bK2"));
    h.set("X-A", "3");
    let names: Vec<(&str, &str)> = h.iter().map(|x| (x.name, x.value)).collect();
    assert_eq!(names[2], ("X-A", "3"));
    assert_eq!(names.len(), 3);
    assert_eq!(
        Method::from_token("invite"),
        Method::Extension("invite".into())
    );
    assert_eq!(Method::from_token("REGISTER").as_str(), "REGISTER");
}
