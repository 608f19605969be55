//! `limit` in a running switch: what a pass leaves on the channel and on the event
//! bus, a call over the limit refused, and the usage released at hangup and transfer.

use super::*;

/// 1001 calls `dest` in a dialog of its own (`n` makes Call-ID, tag and branch unique).
fn invite(dest: &str, n: u32) -> Vec<u8> {
    String::from_utf8_lossy(&invite_from_1001(dest))
        .replace("a-call@127.0.0.2", &format!("call-{n}@127.0.0.2"))
        .replace("tag=a1", &format!("tag=a1-{n}"))
        .replace("branch=z9hG4bKa1", &format!("branch=z9hG4bKa1-{n}"))
        .into_bytes()
}

fn only_uuid(rig: &Rig) -> String {
    let uuids: Vec<String> = rig
        .switch
        .sessions()
        .map(|s| s.uuid().to_string())
        .collect();
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    uuids[0].clone()
}

#[test]
fn a_call_within_the_limit_is_counted_until_it_hangs_up_and_one_over_is_refused() {
    let mut rig = Rig::new();
    let out = rig.input(&invite("8000", 1), "127.0.0.2:5070");
    assert!(
        first_lines(&out).contains(&"127.0.0.2:5070 SIP/2.0 200 OK".to_string()),
        "{:?}",
        first_lines(&out)
    );
    assert_eq!(rig.switch.limits().usage("test", "1001"), (1, 0));
    let uuid = only_uuid(&rig);
    let s = rig.switch.session(&uuid).expect("session");
    for (name, value) in [
        ("limit_usage", "1"),
        ("limit_usage_test_1001", "1"),
        ("limit_rate", "0"),
        ("limit_backend", "hash"),
    ] {
        assert_eq!(s.channel.get(name).as_deref(), Some(value), "{name}");
    }
    let events: Vec<_> = std::iter::from_fn(|| rig.switch.poll_event()).collect();
    let usage = events
        .iter()
        .find(|e| e.header("Event-Subclass") == Some("limit::usage"))
        .expect("CUSTOM limit::usage");
    assert_eq!(usage.header("Event-Name"), Some("CUSTOM"));
    assert_eq!(usage.header("realm"), Some("test"));
    assert_eq!(usage.header("key"), Some("1001"));
    assert_eq!(usage.header("usage"), Some("1"));
    assert_eq!(usage.header("max"), Some("1"));
    assert_eq!(usage.header("Unique-ID"), Some(uuid.as_str()));

    // A second call while the first is up: USER_BUSY, nothing counted for it.
    let out = rig.input(&invite("8000", 2), "127.0.0.2:5070");
    assert!(
        first_lines(&out).contains(&"127.0.0.2:5070 SIP/2.0 486 Busy Here".to_string()),
        "{:?}",
        first_lines(&out)
    );
    assert_eq!(rig.switch.limits().usage("test", "1001"), (1, 0));
    assert_eq!(rig.switch.limits().stats().refused, 1);

    // The first hangs up: the key is gone.
    let clock = rig.clock();
    rig.switch.hangup(
        &uuid,
        crate::switch::HangupCause::NormalClearing,
        &mut rig.sip,
        clock,
    );
    assert_eq!(rig.switch.limits().usage("test", "1001"), (0, 0));
    assert!(rig.switch.limits().is_empty());
}

#[test]
fn a_transfer_releases_the_usage_unless_limit_ignore_transfer_is_set() {
    for (ignore, kept) in [(false, 0), (true, 1)] {
        let mut rig = Rig::new();
        rig.input(&invite("8000", 1), "127.0.0.2:5070");
        let uuid = only_uuid(&rig);
        if ignore {
            rig.switch.set_var(&uuid, "limit_ignore_transfer", "true");
        }
        let clock = rig.clock();
        rig.switch
            .transfer(&uuid, "9196", None, &mut rig.sip, clock);
        assert!(rig.switch.session(&uuid).is_some(), "transferred, still up");
        assert_eq!(
            rig.switch.limits().usage("test", "1001").0,
            kept,
            "limit_ignore_transfer={ignore}"
        );
    }
}

#[test]
fn limit_usage_is_a_function_of_the_dialplan() {
    let mut rig = Rig::new();
    rig.input(&invite("8000", 1), "127.0.0.2:5070");
    let uuid = only_uuid(&rig);
    let s = rig.switch.session(&uuid).expect("session");
    let hook = super::super::limit::api_hook(rig.switch.limits(), None);
    let out = crate::dialplan::expand_with(
        "${limit_usage(hash test ${caller_id_number})}/${limit_hash_usage(test 1001 rate)}",
        &s.channel,
        Some(&hook),
    );
    assert_eq!(out, "1/1/0");
}
