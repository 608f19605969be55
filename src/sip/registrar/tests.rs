use super::*;
use crate::sip::wire::NameAddr;

const NOW: u64 = 1_000_000;

fn policy() -> RegistrarPolicy {
    RegistrarPolicy {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 3600,
        max_per_aor: 2,
        max_total: 100,
    }
}

fn contact(s: &str) -> Contact {
    Contact::Addr(NameAddr::parse(s).expect("test contact parses"))
}

fn input<'a>(
    contacts: &'a [Contact],
    expires: Option<u32>,
    call_id: &'a str,
    cseq: u32,
) -> RegisterInput<'a> {
    RegisterInput {
        aor: "1001@d",
        contacts,
        expires_header: expires,
        call_id,
        cseq,
        source: "192.0.2.1:5060".into(),
        transport: "udp",
        user_agent: Some("ua"),
        profile: "internal",
    }
}

#[test]
fn several_contacts_with_own_expiry() {
    let mut r = Registrar::new(policy());
    let cs = [
        contact("<sip:1001@192.0.2.1:5060>;expires=120"),
        contact("<sip:1001@192.0.2.2:5060>"),
    ];
    let changes = r.register(&input(&cs, Some(600), "c1", 1), NOW).unwrap();
    assert_eq!(changes.len(), 2);
    let b = r.location.bindings("1001@d");
    let mut exp: Vec<u64> = b.iter().map(|b| b.expires_at_unix_ms - NOW).collect();
    exp.sort();
    assert_eq!(exp, vec![120_000, 600_000]);
}

#[test]
fn expiry_is_clamped_to_max() {
    let mut r = Registrar::new(policy());
    let cs = [contact("<sip:1001@192.0.2.1>")];
    r.register(&input(&cs, Some(99_999), "c1", 1), NOW).unwrap();
    assert_eq!(
        r.location.bindings("1001@d")[0].expires_at_unix_ms,
        NOW + 3_600_000
    );
}

#[test]
fn max_per_aor_is_enforced_but_refresh_is_not_counted() {
    let mut r = Registrar::new(policy());
    let two = [contact("<sip:a@192.0.2.1>"), contact("<sip:b@192.0.2.1>")];
    r.register(&input(&two, Some(600), "c1", 1), NOW).unwrap();
    // Refreshing both is fine.
    r.register(&input(&two, Some(600), "c1", 2), NOW).unwrap();
    let third = [contact("<sip:c@192.0.2.1>")];
    assert_eq!(
        r.register(&input(&third, Some(600), "c2", 1), NOW),
        Err(RegisterError::TooManyBindings { max: 2 })
    );
    assert_eq!(r.location.len(), 2);
}

#[test]
fn out_of_order_cseq_is_refused() {
    let mut r = Registrar::new(policy());
    let cs = [contact("<sip:a@192.0.2.1>")];
    r.register(&input(&cs, Some(600), "c1", 5), NOW).unwrap();
    assert_eq!(
        r.register(&input(&cs, Some(600), "c1", 5), NOW),
        Err(RegisterError::OutOfOrder)
    );
    // Another Call-ID (a rebooted phone) may replace it.
    r.register(&input(&cs, Some(600), "c9", 1), NOW).unwrap();
}

#[test]
fn star_removes_all_only_with_expires_zero() {
    let mut r = Registrar::new(policy());
    let two = [contact("<sip:a@192.0.2.1>"), contact("<sip:b@192.0.2.1>")];
    r.register(&input(&two, Some(600), "c1", 1), NOW).unwrap();
    let star = [Contact::Star];
    assert!(matches!(
        r.register(&input(&star, Some(5), "c1", 2), NOW),
        Err(RegisterError::BadRequest(_))
    ));
    let changes = r.register(&input(&star, Some(0), "c1", 3), NOW).unwrap();
    assert_eq!(changes.len(), 2);
    assert!(r.location.is_empty());
}

#[test]
fn instance_identifies_a_device_across_contact_changes() {
    let mut r = Registrar::new(policy());
    let first = [contact(
        "<sip:1001@192.0.2.1:5060>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"",
    )];
    r.register(&input(&first, Some(600), "c1", 1), NOW).unwrap();
    let moved = [contact(
        "<sip:1001@192.0.2.9:5060>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"",
    )];
    r.register(&input(&moved, Some(600), "c2", 1), NOW).unwrap();
    let b = r.location.bindings("1001@d");
    assert_eq!(b.len(), 1);
    assert!(b[0].contact_uri.contains("192.0.2.9"));
}

#[test]
fn expire_and_restore() {
    let mut r = Registrar::new(policy());
    let cs = [contact("<sip:a@192.0.2.1>")];
    r.register(&input(&cs, Some(60), "c1", 1), NOW).unwrap();
    assert_eq!(r.location.next_expiry(), Some(NOW + 60_000));
    assert!(r.expire(NOW + 59_999).is_empty());
    let gone = r.expire(NOW + 60_000);
    assert_eq!(gone.len(), 1);

    let mut fresh = Registrar::new(policy());
    let stale = fresh.restore(gone.clone(), NOW + 60_001);
    assert_eq!(stale.len(), 1);
    assert!(fresh.location.is_empty());
    let kept = fresh.restore(gone, NOW);
    assert!(kept.is_empty());
    assert_eq!(fresh.location.len(), 1);
}

#[test]
fn a_refresh_keeps_the_route_whatever_its_call_id() {
    let mut r = Registrar::new(policy());
    let cs = [contact("<sip:1001@192.0.2.1:5060>")];
    let refresh_flags = |changes: Vec<Change>| -> Vec<bool> {
        changes
            .into_iter()
            .map(|c| match c {
                Change::Upsert { refresh, .. } => refresh,
                Change::Remove { .. } => panic!("no removal expected"),
            })
            .collect()
    };
    assert_eq!(
        refresh_flags(r.register(&input(&cs, Some(600), "c1", 1), NOW).unwrap()),
        [false]
    );
    assert_eq!(
        refresh_flags(r.register(&input(&cs, Some(600), "c1", 2), NOW).unwrap()),
        [true]
    );
    // A rebooted phone (or SIPp) sends a new Call-ID: still the same route.
    assert_eq!(
        refresh_flags(r.register(&input(&cs, Some(600), "c2", 1), NOW).unwrap()),
        [true]
    );
    // The phone moved (NAT rebinding): the route changed, it must be written durably.
    let mut moved = input(&cs, Some(600), "c2", 2);
    moved.source = "192.0.2.1:6000".into();
    assert_eq!(refresh_flags(r.register(&moved, NOW).unwrap()), [false]);
}
