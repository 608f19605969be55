//! mod_limit + mod_hash under a virtual clock.

use super::*;

/// 2023-11-14, in epoch seconds.
const T0: u64 = 1_700_000_000;

fn allowed(d: &Decision) -> bool {
    matches!(d, Decision::Allowed { .. })
}

fn var<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match d {
        Decision::Allowed { variables, .. } => variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str()),
        Decision::Exceeded { .. } => None,
    }
}

fn run(l: &mut HashLimits, call: &str, data: &str, now: u64) -> Decision {
    l.limit_app(call, data, now).expect("valid data")
}

#[test]
fn data_parses_as_mod_dptools() {
    let a = LimitArgs::parse("hash inbound ${caller} 10/60").unwrap();
    assert_eq!(
        (a.backend.as_str(), a.realm.as_str(), a.resource.as_str()),
        ("hash", "inbound", "${caller}")
    );
    assert_eq!((a.max, a.interval), (10, 60));
    assert_eq!(
        a.on_exceed,
        OnExceed::Transfer {
            extension: "limit_exceeded".into(),
            dialplan: None,
            context: None
        }
    );
    let p = |s: &str| LimitArgs::parse(s).unwrap();
    assert_eq!((p("hash r k").max, p("hash r k").interval), (-1, 0));
    assert_eq!(p("hash r k -1").max, -1);
    assert_eq!(p("hash r k -").max, -1);
    assert_eq!(p("hash r k -5/60").interval, 0, "a '-' max has no interval");
    assert_eq!(p("hash r k 3").max, 3);
    assert_eq!(p("hash r k 3x").max, 3, "atoi");
    assert_eq!(p("hash r k abc").max, 0, "atoi: no digits is 0");
    assert_eq!(p("hash r k 5/-10").interval, 0);
    assert_eq!(p("hash r k 5/abc").interval, 0);
    assert_eq!(
        p("hash r k 5 busy XML office").on_exceed,
        OnExceed::Transfer {
            extension: "busy".into(),
            dialplan: Some("XML".into()),
            context: Some("office".into())
        }
    );
    assert_eq!(
        p("hash r k 5 busy XML office extra words").on_exceed,
        OnExceed::Transfer {
            extension: "busy".into(),
            dialplan: Some("XML".into()),
            context: Some("office extra words".into())
        },
        "the seventh word keeps the rest"
    );
    assert_eq!(
        p("hash r k 5 !USER_BUSY").on_exceed,
        OnExceed::Hangup {
            cause: "USER_BUSY".into()
        }
    );
    assert_eq!(LimitArgs::parse("hash r"), Err(UsageError));
    assert_eq!(LimitArgs::parse(""), Err(UsageError));
    assert_eq!(
        UsageError.to_string(),
        "USAGE: limit <backend> <realm> <id> [<max>[/interval]] [number [dialplan [context]]]"
    );
}

#[test]
fn concurrent_calls_are_counted_and_released_at_hangup() {
    let mut l = HashLimits::new(100);
    let data = "hash outbound 1001 2";
    let a = run(&mut l, "call-a", data, T0);
    assert_eq!(var(&a, "limit_usage"), Some("1"));
    assert_eq!(var(&a, "limit_usage_outbound_1001"), Some("1"));
    assert_eq!(var(&a, "limit_rate"), Some("0"));
    assert_eq!(var(&a, "limit_rate_outbound_1001"), Some("0"));
    assert_eq!(var(&a, "limit_backend"), Some("hash"));
    let b = run(&mut l, "call-b", data, T0 + 1);
    assert_eq!(var(&b, "limit_usage"), Some("2"));
    // The same call asking again holds the key once: it passes and counts nothing.
    let again = run(&mut l, "call-b", data, T0 + 1);
    assert_eq!(var(&again, "limit_usage"), Some("2"));
    let Decision::Allowed { event, .. } = &again else {
        panic!("allowed")
    };
    assert!(event.is_none(), "no event when nothing was counted");
    let c = run(&mut l, "call-c", data, T0 + 2);
    assert_eq!(
        c,
        Decision::Exceeded {
            on_exceed: OnExceed::Transfer {
                extension: "limit_exceeded".into(),
                dialplan: None,
                context: None
            },
            why: Refusal::Concurrent
        }
    );
    assert_eq!(l.api_limit_usage("hash outbound 1001"), "2");
    l.release_call("call-a");
    l.release_call("call-a");
    assert_eq!(
        l.api_limit_usage("hash outbound 1001"),
        "1",
        "release is idempotent"
    );
    assert!(allowed(&run(&mut l, "call-c", data, T0 + 3)));
    l.release_call("call-b");
    l.release_call("call-c");
    assert!(l.is_empty(), "an item nobody uses is freed");
    l.release_call("never-seen");
}

#[test]
fn max_zero_refuses_and_minus_one_only_counts() {
    let mut l = HashLimits::new(100);
    assert!(!allowed(&run(&mut l, "a", "hash r k 0", T0)));
    for i in 0..50 {
        assert!(allowed(&run(&mut l, &format!("c{i}"), "hash r n -1", T0)));
    }
    assert_eq!(l.usage("r", "n"), (50, 0));
    let Decision::Allowed { event, .. } = run(&mut l, "c50", "hash r n", T0) else {
        panic!("no max: allowed")
    };
    let headers = event.expect("first take fires limit::usage").headers();
    assert_eq!(
        headers,
        [
            ("Event-Subclass", "limit::usage"),
            ("backend", "hash"),
            ("realm", "r"),
            ("key", "n"),
            ("usage", "51"),
            ("rate", "0"),
            ("max", "-1"),
            ("ratemax", "0"),
        ]
        .map(|(a, b)| (a, b.to_string()))
    );
}

#[test]
fn rate_is_a_fixed_window_opened_by_the_first_call() {
    // At most 10 calls a minute per caller, as in the issue.
    let mut l = HashLimits::new(100);
    let data = "hash per_caller 5551234 10/60 !CALL_REJECTED";
    for i in 0..10 {
        let d = run(&mut l, &format!("c{i}"), data, T0 + i);
        assert_eq!(var(&d, "limit_rate"), Some(&*(i + 1).to_string()));
        l.release_call(&format!("c{i}"));
    }
    let eleventh = run(&mut l, "c10", data, T0 + 30);
    assert_eq!(
        eleventh,
        Decision::Exceeded {
            on_exceed: OnExceed::Hangup {
                cause: "CALL_REJECTED".into()
            },
            why: Refusal::Rate
        }
    );
    // Refused calls still count in the window.
    assert_eq!(l.api_limit_usage("hash per_caller 5551234 rate"), "0/11");
    assert!(!allowed(&run(&mut l, "c11", data, T0 + 59)));
    // The window opened at T0 and lasts 60 s: at T0+60 a new one opens at 1.
    let d = run(&mut l, "c12", data, T0 + 60);
    assert_eq!(var(&d, "limit_rate"), Some("1"));
    // Not a sliding window: the 10 calls of T0..T0+9 no longer count.
    for i in 13..22 {
        assert!(allowed(&run(&mut l, &format!("c{i}"), data, T0 + 61)));
    }
    assert!(!allowed(&run(&mut l, "c22", data, T0 + 61)));
    // A rate limit does not limit concurrency: usage is counted, not checked.
    assert_eq!(l.usage("per_caller", "5551234").0, 10);
}

#[test]
fn a_rate_limit_of_zero_still_passes_the_call_that_opens_each_window() {
    // mod_hash resets the rate to 1 without checking the max.
    let mut l = HashLimits::new(100);
    assert!(allowed(&run(&mut l, "a", "hash r k 0/10", T0)));
    assert!(!allowed(&run(&mut l, "b", "hash r k 0/10", T0 + 1)));
    assert!(allowed(&run(&mut l, "c", "hash r k 0/10", T0 + 10)));
}

#[test]
fn unknown_backends_are_over_the_limit() {
    let mut l = HashLimits::new(100);
    let d = run(&mut l, "a", "db r k 5 full", T0);
    assert_eq!(
        d,
        Decision::Exceeded {
            on_exceed: OnExceed::Transfer {
                extension: "full".into(),
                dialplan: None,
                context: None
            },
            why: Refusal::UnknownBackend
        }
    );
    assert!(l.is_empty());
}

#[test]
fn single_key_release_and_transfer_release() {
    let mut l = HashLimits::new(100);
    assert!(allowed(&run(&mut l, "a", "hash r one 5", T0)));
    assert!(allowed(&run(&mut l, "a", "hash r two 5", T0)));
    l.release("a", "r", "one");
    l.release("a", "r", "one");
    assert_eq!((l.usage("r", "one"), l.usage("r", "two")), ((0, 0), (1, 0)));
    l.release_call("a");
    assert!(l.is_empty());
}

#[test]
fn idle_rate_counters_expire_and_the_table_is_bounded() {
    let mut l = HashLimits::new(3);
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        assert!(allowed(&run(
            &mut l,
            &format!("c{i}"),
            &format!("hash r {k} 5/60"),
            T0
        )));
        l.release_call(&format!("c{i}"));
    }
    assert_eq!(l.len(), 3, "rates keep the items alive");
    // Full, and the windows have not passed: refused, counted.
    let d = run(&mut l, "x", "hash r d 5/60", T0 + 30);
    assert!(matches!(
        d,
        Decision::Exceeded {
            why: Refusal::TableFull,
            ..
        }
    ));
    assert_eq!(l.stats().refused_full, 1);
    // An existing key still works when the table is full.
    assert!(allowed(&run(&mut l, "y", "hash r a 5/60", T0 + 30)));
    l.release_call("y");
    // Once the windows passed, a full table is cleaned up to make room.
    assert!(allowed(&run(&mut l, "z", "hash r d 5/60", T0 + 120)));
    assert_eq!(l.len(), 1);
    // The periodic cleanup, every 900 s from the first call (at T0).
    l.release_call("z");
    assert_eq!(l.cleanup_if_due(T0 + 200), T0 + CLEANUP_INTERVAL_SECS);
    assert_eq!(l.len(), 1, "not due yet: the passed window's rate is kept");
    assert_eq!(
        l.cleanup_if_due(T0 + CLEANUP_INTERVAL_SECS),
        T0 + 2 * CLEANUP_INTERVAL_SECS
    );
    assert!(l.is_empty());
}

#[test]
fn apis_answer_as_mod_commands_and_mod_hash() {
    let mut l = HashLimits::new(100);
    assert!(allowed(&run(&mut l, "a", "hash inbound 1001 5", T0)));
    assert!(allowed(&run(
        &mut l,
        "b",
        "hash per_caller 555 10/60",
        T0 + 5
    )));
    assert_eq!(l.api_limit_usage("hash inbound 1001"), "1");
    assert_eq!(l.api_limit_usage("hash inbound 1001 RATE"), "1/0");
    assert_eq!(l.api_limit_usage("hash nosuch 1"), "0");
    assert_eq!(l.api_limit_usage("db inbound 1001"), "0");
    assert_eq!(
        l.api_limit_usage("inbound 1001"),
        "0",
        "2 args: the db backend"
    );
    assert_eq!(
        l.api_limit_usage("hash"),
        "USAGE: limit_usage <backend> <realm> <id> [rate]\n"
    );
    assert_eq!(l.api_limit_hash_usage("per_caller 555 rate"), "1/1");
    assert!(l
        .api_limit_hash_usage("")
        .starts_with("USAGE: limit_hash_usage"));
    assert_eq!(
        l.api_limit_status("hash"),
        "-ERR not supported yet (locking problems)."
    );
    assert_eq!(l.api_limit_status("db"), "-ERR");
    assert_eq!(l.api_limit_status(""), "USAGE: limit_status <backend>\n");
    assert_eq!(
        l.api_hash_dump("limit"),
        format!(
            "L/inbound_1001/1/0/0/0\nL/per_caller_555/1/1/60/{}\n",
            T0 + 5
        )
    );
    assert_eq!(l.api_hash_dump("all other"), l.api_hash_dump("limit"));
    assert_eq!(l.api_hash_dump("db"), "");
    assert_eq!(l.api_hash_dump(""), "Usage: all|limit|db [<realm>]\n");
    assert_eq!(l.api_hash_dump("LIMIT"), "Usage: all|limit|db [<realm>]\n");
    assert_eq!(
        l.api_limit_interval_reset("hash per_caller 555", T0 + 7),
        "+OK"
    );
    assert_eq!(l.usage("per_caller", "555"), (1, 0));
    assert!(l
        .api_hash_dump("limit")
        .contains(&format!("L/per_caller_555/1/0/60/{}", T0 + 7)));
    assert_eq!(
        l.api_limit_interval_reset("hash x", T0),
        "USAGE: limit_interval_reset <backend> <realm> <resource>\n"
    );
}
