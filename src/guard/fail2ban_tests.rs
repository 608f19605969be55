//! The window, ban, expiry, escalation, bounds and persistence logic under a virtual
//! clock: `t0` plus durations, no sleeping.

use super::*;
use crate::config::fail2ban::Fail2banConfig;
use crate::config::Source;

const UNIX0: u64 = 1_700_000_000;

fn cfg() -> Fail2banConfig {
    let mut c = Fail2banConfig::defaults(Source {
        file: "fail2ban.conf.xml".into(),
        line: 0,
    });
    c.whitelist = Cidr::parse_list("10.1.0.0/16, 2001:db8:1::/48").unwrap();
    c
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ops(f: &mut Fail2ban) -> Vec<BanStoreOp> {
    std::iter::from_fn(|| f.poll_store_op()).collect()
}

/// Fails `n` times, one second apart from `at`; the ban, if one came.
fn fail(f: &mut Fail2ban, who: &str, n: u32, at: Instant) -> Option<BanEvent> {
    let mut ban = None;
    for i in 0..n {
        if let Some(b) = f.record_failure(
            ip(who),
            FailureKind::RegisterAuth,
            "1001@example.com: wrong password",
            at + secs(u64::from(i)),
        ) {
            ban = Some(b);
        }
    }
    ban
}

#[test]
fn a_source_is_banned_at_max_attempts_within_the_window() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    assert_eq!(fail(&mut f, "203.0.113.5", 4, t0), None);
    assert!(!f.is_banned(ip("203.0.113.5"), t0 + secs(4)));
    let b = f
        .record_failure(
            ip("203.0.113.5"),
            FailureKind::RegisterAuth,
            "1001@example.com: wrong password",
            t0 + secs(10),
        )
        .expect("fifth failure bans");
    assert_eq!(b.ip, ip("203.0.113.5"));
    assert_eq!((b.attempts, b.secs, b.offences), (5, 3600, 1));
    assert_eq!(b.reason, "register-auth");
    assert_eq!(b.detail, "1001@example.com: wrong password");
    assert_eq!(b.banned_at_unix, UNIX0 + 10);
    assert_eq!(b.expires_at_unix, UNIX0 + 10 + 3600);
    assert!(f.is_banned(ip("203.0.113.5"), t0 + secs(11)));
    assert!(!f.is_banned(ip("203.0.113.6"), t0 + secs(11)));
    // The count is gone with the ban; the ban is persisted, critically.
    assert_eq!(f.stats().tracked, 0);
    match ops(&mut f).as_slice() {
        [BanStoreOp::Put(ban, Durability::Critical)] => {
            assert_eq!(ban.key(), b"203.0.113.5");
            assert_eq!((ban.secs, ban.offences), (3600, 1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_further_apart_than_the_window_never_ban() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    // Five failures span 600 s exactly: the first has left the 600 s window.
    for i in 0..50 {
        let at = t0 + secs(150 * i);
        assert_eq!(
            f.record_failure(ip("198.51.100.1"), FailureKind::InviteAuth, "", at),
            None,
            "failure {i}"
        );
    }
    // One second closer together and the fifth bans.
    let t1 = t0 + secs(100_000);
    for i in 0..4 {
        assert_eq!(
            f.record_failure(
                ip("198.51.100.2"),
                FailureKind::InviteAuth,
                "",
                t1 + secs(149 * i)
            ),
            None
        );
    }
    assert!(f
        .record_failure(
            ip("198.51.100.2"),
            FailureKind::InviteAuth,
            "",
            t1 + secs(596)
        )
        .is_some());
}

#[test]
fn a_ban_ends_on_time() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    fail(&mut f, "203.0.113.5", 5, t0).unwrap();
    let banned = t0 + secs(4);
    ops(&mut f);
    // The count of the banned source was dropped, so only the ban's end is due.
    assert_eq!(f.poll_timeout(), Some(banned + secs(3600)));
    assert!(f.is_banned(ip("203.0.113.5"), banned + secs(3599)));
    assert!(f.handle_timeout(banned + secs(3599)).is_empty());
    assert!(!f.is_banned(ip("203.0.113.5"), banned + secs(3600)));
    let ev = f.handle_timeout(banned + secs(3600));
    assert_eq!(
        ev,
        vec![UnbanEvent {
            ip: ip("203.0.113.5"),
            reason: UnbanReason::Expired,
            held_secs: 3600
        }]
    );
    assert_eq!(
        ops(&mut f),
        vec![BanStoreOp::Delete(
            b"203.0.113.5".to_vec(),
            Durability::Lazy
        )]
    );
    assert_eq!(f.stats().expired, 1);
    assert_eq!(f.stats().active_bans, 0);
    // The offence is remembered for the repeat window, then forgotten.
    assert_eq!(f.stats().offenders, 1);
    assert_eq!(f.poll_timeout(), Some(banned + secs(3600 + 86_400)));
    f.handle_timeout(banned + secs(3600 + 86_400));
    assert_eq!(f.stats().offenders, 0);
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn repeat_offenders_get_longer_bans_up_to_the_cap() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.ban_time_max_secs = 5 * 3600;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    let mut now = t0;
    let mut lengths = Vec::new();
    for _ in 0..5 {
        let b = fail(&mut f, "203.0.113.9", 5, now).unwrap();
        lengths.push((b.secs, b.offences));
        now = f.poll_timeout().unwrap();
        f.handle_timeout(now);
        // Back an hour after the ban ended: within the repeat window.
        now += secs(3600);
    }
    assert_eq!(
        lengths,
        vec![(3600, 1), (7200, 2), (14_400, 3), (18_000, 4), (18_000, 5)]
    );
    assert_eq!(f.stats().repeat_bans, 4);
    // Beyond the repeat window the slate is clean.
    now = f.poll_timeout().unwrap();
    f.handle_timeout(now);
    now += secs(86_400);
    let b = fail(&mut f, "203.0.113.9", 5, now).unwrap();
    assert_eq!((b.secs, b.offences), (3600, 1));
}

#[test]
fn whitelisted_sources_are_counted_never_banned_ipv4_and_ipv6() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    for who in ["10.1.2.3", "::ffff:10.1.9.9", "2001:db8:1:5::1"] {
        assert_eq!(fail(&mut f, who, 50, t0), None, "{who}");
        assert!(!f.is_banned(ip(who), t0 + secs(60)));
    }
    let s = f.stats();
    assert_eq!(s.whitelisted_failures, 150);
    assert_eq!(s.failures[0], 150);
    assert_eq!(s.tracked, 0);
    // Just outside the blocks: banned.
    assert!(fail(&mut f, "10.2.0.1", 5, t0).is_some());
    assert!(fail(&mut f, "2001:db8:2::1", 5, t0).is_some());
    // The operator cannot ban a whitelisted address by mistake either.
    assert_eq!(
        f.ban(ip("10.1.0.7"), Some(60), t0),
        Err(BanError::Whitelisted(
            ip("10.1.0.7"),
            Cidr::parse("10.1.0.0/16").unwrap()
        ))
    );
}

#[test]
fn ipv4_mapped_ipv6_is_the_same_source_as_ipv4() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    fail(&mut f, "::ffff:203.0.113.7", 3, t0);
    let b = fail(&mut f, "203.0.113.7", 2, t0 + secs(5)).unwrap();
    assert_eq!(b.ip, ip("203.0.113.7"));
    assert!(f.is_banned(ip("::ffff:203.0.113.7"), t0 + secs(10)));
    assert!(f.unban(ip("::ffff:203.0.113.7"), t0 + secs(11)).is_some());
    assert!(!f.is_banned(ip("203.0.113.7"), t0 + secs(12)));
}

#[test]
fn scanners_are_banned_at_once_or_counted() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    let b = f
        .record_failure(
            ip("192.0.2.50"),
            FailureKind::Scanner,
            "User-Agent: friendly-scanner",
            t0,
        )
        .unwrap();
    assert_eq!((b.reason.as_str(), b.attempts), ("scanner", 1));
    assert!(f.is_banned(ip("192.0.2.50"), t0));

    let mut c = cfg();
    c.scanners.action = ScannerAction::Count;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    for i in 0..4 {
        assert_eq!(
            f.record_failure(ip("192.0.2.50"), FailureKind::Scanner, "", t0 + secs(i)),
            None
        );
    }
    assert!(f
        .record_failure(ip("192.0.2.50"), FailureKind::UnknownUser, "", t0 + secs(5))
        .is_some());
    assert_eq!(f.stats().failures[6], 4);
    assert_eq!(f.stats().failures[2], 1);
}

#[test]
fn when_bans_are_full_the_temporary_ban_nearest_its_end_makes_room_never_a_permanent_one() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.max_bans = 3;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    f.ban(ip("192.0.2.1"), Some(0), t0).unwrap(); // permanent
    f.ban(ip("192.0.2.2"), Some(500), t0).unwrap();
    f.ban(ip("192.0.2.3"), Some(100), t0).unwrap();
    ops(&mut f);
    let b = fail(&mut f, "192.0.2.4", 5, t0 + secs(10)).unwrap();
    assert_eq!(b.evicted, Some(ip("192.0.2.3")));
    assert!(!f.is_banned(ip("192.0.2.3"), t0 + secs(20)));
    assert!(f.is_banned(ip("192.0.2.1"), t0 + secs(20)));
    assert_eq!(
        ops(&mut f)[0],
        BanStoreOp::Delete(b"192.0.2.3".to_vec(), Durability::Lazy)
    );
    // Every ban permanent: the new one is refused, counted, and nothing is dropped.
    f.ban(ip("192.0.2.2"), Some(0), t0 + secs(20)).unwrap();
    f.ban(ip("192.0.2.4"), Some(0), t0 + secs(20)).unwrap();
    assert_eq!(
        f.ban(ip("192.0.2.5"), Some(60), t0 + secs(21)),
        Err(BanError::Full(3))
    );
    assert_eq!(fail(&mut f, "192.0.2.6", 5, t0 + secs(22)), None);
    let s = f.stats();
    assert_eq!((s.bans_evicted, s.bans_refused), (1, 2));
    assert_eq!((s.active_bans, s.permanent_bans), (3, 3));
    // Re-banning a source already held needs no room.
    assert!(f.ban(ip("192.0.2.4"), Some(60), t0 + secs(23)).is_ok());
}

#[test]
fn when_tracked_sources_are_full_the_one_that_failed_longest_ago_is_forgotten() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.max_tracked = 2;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    fail(&mut f, "192.0.2.1", 4, t0);
    fail(&mut f, "192.0.2.2", 1, t0 + secs(5));
    fail(&mut f, "192.0.2.3", 1, t0 + secs(6)); // 192.0.2.1 failed longest ago
    assert_eq!(f.stats().tracked, 2);
    assert_eq!(f.stats().tracked_evicted, 1);
    // Its four failures are forgotten: one more does not ban.
    assert_eq!(fail(&mut f, "192.0.2.1", 1, t0 + secs(7)), None);
    // 192.0.2.2 made room for it; 192.0.2.3 is still counted.
    assert_eq!(f.stats().tracked_evicted, 2);
    assert!(fail(&mut f, "192.0.2.3", 4, t0 + secs(8)).is_some());
}

#[test]
fn counts_are_forgotten_after_the_window_so_memory_returns_to_zero() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    for i in 0..100u32 {
        let who = format!("198.51.100.{i}");
        fail(&mut f, &who, 1, t0 + secs(u64::from(i)));
    }
    assert_eq!(f.stats().tracked, 100);
    assert_eq!(f.poll_timeout(), Some(t0 + secs(600)));
    f.handle_timeout(t0 + secs(650));
    assert_eq!(f.stats().tracked, 49);
    assert_eq!(f.poll_timeout(), Some(t0 + secs(651)));
    f.handle_timeout(t0 + secs(10_000));
    assert_eq!(f.stats().tracked, 0);
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn a_flood_of_sources_stays_within_the_bounds() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.max_tracked = 1000;
    c.max_bans = 500;
    c.max_attempts = 2;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    for i in 0..20_000u32 {
        let a = IpAddr::from((0xC600_0000u32 + i / 2).to_be_bytes());
        f.record_failure(
            a,
            FailureKind::UnknownUser,
            "",
            t0 + Duration::from_millis(u64::from(i)),
        );
        // Drain as the driver would.
        while f.poll_store_op().is_some() {}
    }
    let s = f.stats();
    assert!(s.tracked <= 1000);
    assert_eq!(s.active_bans, 500);
    assert_eq!(s.auto_bans, 10_000);
    assert_eq!(s.bans_evicted, 9_500);
    assert!(s.offenders <= 500);
}

#[test]
fn bans_survive_a_restart_on_the_wall_clock() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    fail(&mut f, "203.0.113.5", 5, t0); // banned at UNIX0 + 4 for 3600 s
    f.ban(ip("2001:db8:9::9"), Some(0), t0 + secs(5)).unwrap();
    f.ban(ip("192.0.2.9"), Some(60), t0 + secs(5)).unwrap();
    let mut stored: Vec<Ban> = ops(&mut f)
        .into_iter()
        .filter_map(|op| match op {
            BanStoreOp::Put(b, Durability::Critical) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(stored.len(), 3);
    // Through the store's encoding, as after a reboot.
    stored = stored
        .iter()
        .map(|b| {
            <Ban as crate::store::Record>::from_bytes(&crate::store::Record::to_bytes(b)).unwrap()
        })
        .collect();
    // A stale record whose source is now whitelisted.
    stored.push(Ban {
        ip: ip("10.1.0.1"),
        banned_at_unix: UNIX0,
        expires_at_unix: 0,
        secs: 0,
        offences: 1,
        reason: "api".into(),
    });

    // Reboot 1000 s of wall clock later; the monotonic clock starts anew.
    let t1 = Instant::now() + secs(50);
    let mut g = Fail2ban::new(&cfg(), t1, UNIX0 + 1000);
    let report = g.restore(stored, t1, UNIX0 + 1000);
    assert_eq!(
        report,
        RestoreReport {
            restored: 2,
            expired: 1,
            whitelisted: 1,
            dropped: 0,
            shortened: 0
        }
    );
    assert!(g.is_banned(ip("203.0.113.5"), t1));
    assert!(g.is_banned(ip("2001:db8:9::9"), t1 + secs(100 * 365 * 86_400)));
    assert!(!g.is_banned(ip("192.0.2.9"), t1));
    // What was left of the hour, on the monotonic clock.
    assert_eq!(g.poll_timeout(), Some(t1 + secs(3604 - 1000)));
    assert!(g.is_banned(ip("203.0.113.5"), t1 + secs(2603)));
    assert!(!g.is_banned(ip("203.0.113.5"), t1 + secs(2604)));
    let mut deleted: Vec<Vec<u8>> = ops(&mut g)
        .into_iter()
        .map(|op| match op {
            BanStoreOp::Delete(k, Durability::Lazy) => k,
            other => panic!("{other:?}"),
        })
        .collect();
    deleted.sort();
    assert_eq!(deleted, vec![b"10.1.0.1".to_vec(), b"192.0.2.9".to_vec()]);
    // The ended ban is remembered: 192.0.2.9 is a repeat offender now.
    let b = fail(&mut g, "192.0.2.9", 5, t1).unwrap();
    // Twice its 60 s, but never shorter than ban-time.
    assert_eq!((b.secs, b.offences), (3600, 2));
    let l = g.list(t1 + secs(4));
    assert_eq!(l.len(), 3);
}

#[test]
fn a_wall_clock_behind_at_boot_never_lengthens_a_restored_ban() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, 0);
    let stored = vec![Ban {
        ip: ip("203.0.113.5"),
        banned_at_unix: UNIX0,
        expires_at_unix: UNIX0 + 3600,
        secs: 3600,
        offences: 1,
        reason: "register-auth".into(),
    }];
    // No RTC: the box believes it is 1970.
    let report = f.restore(stored, t0, 5);
    assert_eq!((report.restored, report.shortened), (1, 1));
    assert_eq!(f.poll_timeout(), Some(t0 + secs(3600)));
    match ops(&mut f).as_slice() {
        [BanStoreOp::Put(b, Durability::Lazy)] => {
            assert_eq!((b.banned_at_unix, b.expires_at_unix), (5, 3605))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn restoring_more_than_max_bans_keeps_the_permanent_and_longest() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.max_bans = 2;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    let rec = |last: u8, secs: u64| Ban {
        ip: IpAddr::from([192, 0, 2, last]),
        banned_at_unix: UNIX0,
        expires_at_unix: if secs == 0 { 0 } else { UNIX0 + secs },
        secs,
        offences: 1,
        reason: "api".into(),
    };
    let report = f.restore(vec![rec(1, 100), rec(2, 0), rec(3, 900)], t0, UNIX0);
    assert_eq!((report.restored, report.dropped), (2, 1));
    assert!(f.is_banned(ip("192.0.2.2"), t0));
    assert!(f.is_banned(ip("192.0.2.3"), t0));
    assert!(!f.is_banned(ip("192.0.2.1"), t0));
    assert_eq!(
        ops(&mut f),
        vec![BanStoreOp::Delete(b"192.0.2.1".to_vec(), Durability::Lazy)]
    );
}

#[test]
fn unban_and_clear_lift_bans_and_persist_it() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    f.ban(ip("192.0.2.1"), None, t0).unwrap();
    f.ban(ip("192.0.2.2"), Some(0), t0).unwrap();
    f.ban(ip("192.0.2.3"), Some(30), t0).unwrap();
    ops(&mut f);
    assert_eq!(f.unban(ip("192.0.2.9"), t0), None);
    let ev = f.unban(ip("192.0.2.1"), t0 + secs(20)).unwrap();
    assert_eq!((ev.reason, ev.held_secs), (UnbanReason::Api, 20));
    assert_eq!(
        ops(&mut f),
        vec![BanStoreOp::Delete(
            b"192.0.2.1".to_vec(),
            Durability::Critical
        )]
    );
    // An unbanned source starts from a clean slate: no escalation.
    let b = fail(&mut f, "192.0.2.1", 5, t0 + secs(30)).unwrap();
    assert_eq!((b.secs, b.offences), (3600, 1));
    ops(&mut f);
    let ev = f.clear(t0 + secs(40));
    assert_eq!(
        ev.iter().map(|e| e.ip).collect::<Vec<_>>(),
        vec![ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")]
    );
    let o = ops(&mut f);
    assert_eq!(o.len(), 3);
    assert_eq!(o[0].durability(), Durability::Lazy);
    assert_eq!(o[2].durability(), Durability::Critical);
    assert_eq!(f.stats().active_bans, 0);
    assert_eq!(f.stats().cleared, 3);
    assert_eq!(f.poll_timeout(), None);
    assert!(f.clear(t0 + secs(41)).is_empty());
    assert!(ops(&mut f).is_empty());
}

#[test]
fn disabled_counts_but_bans_only_on_the_operator_s_word() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.enabled = false;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    assert_eq!(fail(&mut f, "192.0.2.1", 50, t0), None);
    assert_eq!(
        f.record_failure(ip("192.0.2.1"), FailureKind::Scanner, "", t0),
        None
    );
    assert_eq!(f.stats().failures[0], 50);
    assert_eq!(f.stats().tracked, 0);
    assert!(f.ban(ip("192.0.2.1"), Some(60), t0).is_ok());
    assert!(f.is_banned(ip("192.0.2.1"), t0));
}

#[test]
fn permanent_bans_never_end() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.ban_time_secs = 0;
    let mut f = Fail2ban::new(&c, t0, UNIX0);
    let b = fail(&mut f, "192.0.2.1", 5, t0).unwrap();
    assert_eq!((b.secs, b.expires_at_unix), (0, 0));
    assert_eq!(f.poll_timeout(), None);
    assert!(f.handle_timeout(t0 + secs(10 * 365 * 86_400)).is_empty());
    assert!(f.is_banned(ip("192.0.2.1"), t0 + secs(10 * 365 * 86_400)));
    assert_eq!(f.list(t0)[0].remaining_secs, None);
}

#[test]
fn drops_and_failures_while_banned_are_counted_and_listed() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    fail(&mut f, "192.0.2.1", 5, t0).unwrap();
    for _ in 0..7 {
        assert!(f.is_banned(ip("192.0.2.1"), t0 + secs(5)));
    }
    assert!(!f.is_banned(ip("192.0.2.2"), t0 + secs(5)));
    // An event socket connection opened before the ban keeps failing.
    assert_eq!(
        f.record_failure(ip("192.0.2.1"), FailureKind::EslAuth, "", t0 + secs(6)),
        None
    );
    let s = f.stats();
    assert_eq!((s.dropped, s.failures_while_banned), (7, 1));
    let l = f.list(t0 + Duration::from_millis(5500));
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].dropped, 7);
    assert_eq!(l[0].remaining_secs, Some(3599));
    assert_eq!(l[0].expires_at_unix, UNIX0 + 4 + 3600);
}

#[test]
fn a_long_detail_from_the_network_is_cut() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    let long = "é".repeat(300);
    let b = f
        .record_failure(ip("192.0.2.1"), FailureKind::Scanner, &long, t0)
        .unwrap();
    assert!(b.detail.len() <= 200);
    assert!(b.detail.chars().all(|c| c == 'é'));
}

#[test]
fn a_ban_ended_but_not_yet_handled_still_counts_as_an_offence() {
    let t0 = Instant::now();
    let mut f = Fail2ban::new(&cfg(), t0, UNIX0);
    fail(&mut f, "192.0.2.1", 5, t0).unwrap();
    // The driver has not called handle_timeout since the ban ended.
    let later = t0 + secs(4 + 3600);
    assert!(!f.is_banned(ip("192.0.2.1"), later));
    let b = fail(&mut f, "192.0.2.1", 5, later).unwrap();
    assert_eq!((b.secs, b.offences), (7200, 2));
    assert_eq!(f.stats().active_bans, 1);
    assert_eq!(f.poll_timeout(), Some(later + secs(4 + 7200)));
}
