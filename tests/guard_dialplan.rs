//! The guard in the dialplan, against real SIP peers: mod_blacklist's lists checked
//! with `${blacklist(check ...)}` in the factory public.xml (a number from the list
//! file, one added with the API at run time and kept across a restart), mod_limit's
//! `limit` as a rate (10 calls a minute, the 11th refused) and as the factory's
//! per-account cap on calls out, toll_allow gating the factory's outbound classes, and
//! the `limit_usage` / `hash_dump` APIs following the calls. Callers are SIPp on
//! 127.0.0.5 and 127.0.0.6, the carrier SIPp on 127.0.0.7; none is whitelisted.

mod common;

use common::sipp::{tail, Sipp};
use common::trunk::{external_profile, free_port_on};
use common::Gateway;
use std::thread;
use std::time::{Duration, Instant};

const CALLER_A: &str = "127.0.0.5";
const CALLER_B: &str = "127.0.0.6";
const CARRIER_IP: &str = "127.0.0.7";

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(common::repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Waits until `api` answers `want` (trimmed), within `within`.
fn wait_api(gw: &Gateway, api: &str, want: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let got = gw.api(api);
        if got.trim() == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "`{api}` answers {got:?}, not {want:?} after {within:?}\n--- log ---\n{}",
            tail(&gw.log(), 6000)
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A call nobody authenticates from `ip`, caller id `number`, to `dest`.
fn stranger(gw: &Gateway, ip: &str, number: &str, dest: &str) -> Sipp {
    Sipp::new("uac_noauth.xml", gw.sip_addr())
        .local_ip(ip)
        .user(number, "unused")
        .key("dest", dest)
        .pause_ms(100)
        .timeout(Duration::from_secs(15))
}

/// The same caller, expecting to be refused (403, 486 or 603).
fn refused_stranger(gw: &Gateway, ip: &str, number: &str, dest: &str) -> Sipp {
    Sipp::new("uac_noauth_refused.xml", gw.sip_addr())
        .local_ip(ip)
        .user(number, "unused")
        .key("dest", dest)
        .timeout(Duration::from_secs(10))
}

/// The run was refused with `status` (e.g. "403") and never answered.
fn assert_refused(run: &common::sipp::SippRun, status: &str, gw: &Gateway) {
    assert!(
        run.success() && run.messages.contains(&format!("SIP/2.0 {status} ")),
        "expected {status}:\n{}\n--- gateway log ---\n{}",
        run.report(),
        tail(&gw.log(), 6000)
    );
    assert!(
        !run.messages.contains("SIP/2.0 200 OK"),
        "answered though refused: {}",
        run.report()
    );
}

/// `default` for the blacklist test: the main number answers and echoes (and logs
/// what the list says of the caller, from an application's data).
const ANSWERING_DEFAULT: &str = r#"<include><context name="default">
  <extension name="main">
    <condition field="destination_number" expression="^5000$">
      <action application="log" data="WARNING ${caller_id_number} listed=${blacklist(check blocked ${caller_id_number})}"/>
      <action application="answer"/>
      <action application="echo"/>
    </condition>
  </extension>
</context></include>"#;

#[test]
fn blacklisted_callers_get_403_from_the_file_and_from_the_api_and_others_get_through() {
    let mut gw = Gateway::builder()
        .file(
            "dialplan/public.xml",
            &repo_file("conf/dialplan/public.xml"),
        )
        .file("dialplan/default.xml", ANSWERING_DEFAULT)
        .file(
            "autoload_configs/blacklist.conf.xml",
            &repo_file("conf/autoload_configs/blacklist.conf.xml"),
        )
        .file("blacklists/blocked.list", "5550006\n")
        .profile_param("auth-calls", "false")
        .profile_param("apply-inbound-acl", "loopback.auto")
        .profile_param("context", "public")
        .start();
    let did = "5550100";
    assert_eq!(gw.api("blacklist check blocked 5550006").trim(), "true");
    assert_eq!(gw.api("blacklist check blocked 5550005").trim(), "false");

    // Not on the list: through to the main number.
    stranger(&gw, CALLER_A, "5550005", did)
        .run()
        .assert_ok("a caller not on the list", &gw.log());
    assert!(
        gw.log().contains("5550005 listed=false"),
        "{}",
        tail(&gw.log(), 4000)
    );
    // On the list file: 403, logged with the number.
    let run = refused_stranger(&gw, CALLER_B, "5550006", did).run();
    assert_refused(&run, "403", &gw);
    assert!(
        gw.log()
            .contains("blacklisted caller 5550006 from 127.0.0.6"),
        "{}",
        tail(&gw.log(), 4000)
    );

    // Added at run time: refused from the next call on, and still after a restart.
    assert_eq!(gw.api("blacklist add blocked 5550005"), "+OK\n");
    let run = refused_stranger(&gw, CALLER_A, "5550005", did).run();
    assert_refused(&run, "403", &gw);
    gw.restart();
    assert_eq!(gw.api("blacklist check blocked 5550005").trim(), "true");
    let run = refused_stranger(&gw, CALLER_A, "5550005", did).run();
    assert_refused(&run, "403", &gw);
    let list = gw.api("blacklist list blocked");
    assert_eq!(list, "5550005\n5550006\n");
    // reload and reloadxml read the file again, the stored edit over it.
    assert_eq!(gw.api("blacklist reload"), "+OK\n");
    assert!(gw.api("reloadxml").starts_with("+OK"));
    assert_eq!(gw.api("blacklist list blocked"), list);
    // save folds the edit into the file, as mod_blacklist does.
    assert_eq!(gw.api("blacklist save blocked"), "+OK\n");
    let file =
        std::fs::read_to_string(gw.conf_dir().join("blacklists/blocked.list")).expect("list file");
    assert_eq!(file, list);
    let status = gw.api("status");
    assert!(
        status.contains("blacklist: 1 lists, 2 entries;") && status.contains(" hits;"),
        "{status}"
    );

    // Deleted: through again.
    assert_eq!(gw.api("blacklist del blocked 5550005"), "+OK\n");
    stranger(&gw, CALLER_A, "5550005", did)
        .run()
        .assert_ok("a caller taken off the list", &gw.log());
    let unknown = gw.try_api("blacklist add nosuchlist 1");
    assert_eq!(
        unknown.stdout,
        "-ERR Unknown blacklist\n",
        "{}",
        unknown.describe()
    );
}

/// `public` with a rate limit per caller: 10 calls a minute.
const RATE_PUBLIC: &str = r#"<include><context name="public">
  <extension name="rate_limited">
    <condition field="destination_number" expression="^5000$">
      <action application="limit" data="hash ${domain_name} ${caller_id_number} 10/60 !CALL_REJECTED"/>
      <action application="log" data="WARNING rate usage of ${caller_id_number}: ${limit_usage(hash ${domain_name} ${caller_id_number} rate)} (${limit_usage} ${limit_rate})"/>
      <action application="answer"/>
      <action application="echo"/>
    </condition>
  </extension>
</context></include>"#;

#[test]
fn a_rate_limit_of_10_a_minute_passes_ten_calls_and_refuses_the_eleventh() {
    let gw = Gateway::builder()
        .file("dialplan/public.xml", RATE_PUBLIC)
        .profile_param("auth-calls", "false")
        .profile_param("apply-inbound-acl", "loopback.auto")
        .profile_param("context", "public")
        .start();
    let key = format!("{}_5550005", common::DOMAIN);
    for n in 1..=10 {
        stranger(&gw, CALLER_A, "5550005", "5000")
            .run()
            .assert_ok(&format!("call {n} of 10"), &gw.log());
    }
    // The function in the dialplan saw the call itself and the window's count.
    assert!(
        gw.log().contains("rate usage of 5550005: 1/10 (1 10)"),
        "{}",
        tail(&gw.log(), 4000)
    );
    let run = refused_stranger(&gw, CALLER_A, "5550005", "5000").run();
    assert_refused(&run, "603", &gw);
    // Another caller has a window of its own.
    stranger(&gw, CALLER_B, "5550006", "5000")
        .run()
        .assert_ok("another caller", &gw.log());
    // Every call is over: no usage left, the window's count kept (refused ones too).
    let api = format!("limit_usage hash {} 5550005 rate", common::DOMAIN);
    wait_api(&gw, &api, "0/11", Duration::from_secs(5));
    let dump = gw.api("hash_dump limit");
    assert!(dump.contains(&format!("L/{key}/0/11/60/")), "{dump}");
    let status = gw.api("status");
    assert!(status.contains("calls allowed, 1 refused"), "{status}");
    assert_eq!(
        gw.api(&format!("limit_hash_usage {} 5550006", common::DOMAIN))
            .trim(),
        "0"
    );
    // An operator opens the window again: the next call passes.
    assert_eq!(
        gw.api(&format!(
            "limit_interval_reset hash {} 5550005",
            common::DOMAIN
        ))
        .trim(),
        "+OK"
    );
    stranger(&gw, CALLER_A, "5550005", "5000")
        .run()
        .assert_ok("a call after limit_interval_reset", &gw.log());
}

/// A directory user with the factory's variables and `toll_allow`.
fn user_xml(id: &str, toll_allow: &str) -> String {
    format!(
        r#"<include>
  <user id="{id}">
    <params><param name="password" value="secret{id}"/></params>
    <variables>
      <variable name="toll_allow" value="{toll_allow}"/>
      <variable name="accountcode" value="{id}"/>
      <variable name="user_context" value="default"/>
      <variable name="outbound_caller_id_number" value="5550100"/>
    </variables>
  </user>
</include>"#
    )
}

/// The factory dialplan and globals (domain pinned to the test's), users 1005
/// (`local`) and 1006 (`local,domestic,international`), and the gateway "carrier" at
/// the SIPp carrier's `carrier_port` on 127.0.0.7.
fn factory_with_carrier(carrier_port: u16) -> Gateway {
    let vars = repo_file("conf/vars.xml").replace(
        "domain=$${local_ip_v4}",
        &format!("domain={}", common::DOMAIN),
    );
    let external = common::ports::free_udp_tcp_port();
    Gateway::builder()
        .file("vars.xml", &vars)
        .file(
            "dialplan/default.xml",
            &repo_file("conf/dialplan/default.xml"),
        )
        .file("directory/default/1005.xml", &user_xml("1005", "local"))
        .file(
            "directory/default/1006.xml",
            &user_xml("1006", "local,domestic,international"),
        )
        .file(
            "sip_profiles/external.xml",
            &external_profile(
                external,
                &format!("{CARRIER_IP}:{carrier_port}"),
                ("acme", "unused-pw"),
                r#"<param name="register" value="false"/>"#,
            ),
        )
        .start()
}

/// A phone `user` on `ip` dialing `dest`; the call lasts `ms`.
fn phone_call(gw: &Gateway, ip: &str, user: &str, dest: &str, ms: u32) -> Sipp {
    Sipp::new("uac_call.xml", gw.sip_addr())
        .local_ip(ip)
        .user(user, &format!("secret{user}"))
        .key("dest", dest)
        .pause_ms(ms)
        .timeout(Duration::from_secs(20))
}

/// A phone `user` on `ip` dialing `dest`, expecting a final error (which one is in
/// the run's messages).
fn refused_call(gw: &Gateway, ip: &str, user: &str, dest: &str) -> Sipp {
    Sipp::new("uac_refused.xml", gw.sip_addr())
        .local_ip(ip)
        .user(user, &format!("secret{user}"))
        .key("dest", dest)
        .timeout(Duration::from_secs(10))
}

const INTERNATIONAL: &str = "9011442071234567";

#[test]
fn toll_allow_refuses_a_local_user_abroad_and_lets_an_international_one_reach_the_carrier() {
    let carrier_port = free_port_on(CARRIER_IP);
    let carrier = Sipp::new("uas_answer.xml", "127.0.0.1:9".parse().expect("addr"))
        .local_ip(CARRIER_IP)
        .local_port(carrier_port)
        .pause_ms(100)
        .timeout(Duration::from_secs(20));
    let carrier = thread::spawn(move || carrier.run());
    thread::sleep(Duration::from_millis(300));
    let gw = factory_with_carrier(carrier_port);

    // 1005 may call local numbers only: 403, and the log names user and number.
    let run = refused_call(&gw, CALLER_A, "1005", INTERNATIONAL).run();
    run.assert_ok("1005's international call refused", &gw.log());
    assert!(run.messages.contains("SIP/2.0 403 "), "{}", run.report());
    assert!(
        gw.log().contains(
            "toll_allow: 1005 (toll_allow=local) may not call 011442071234567 from 127.0.0.5: refused"
        ),
        "{}",
        tail(&gw.log(), 4000)
    );
    // 1006 may: the carrier gets the number without the 9, and answers.
    phone_call(&gw, CALLER_B, "1006", INTERNATIONAL, 300)
        .run()
        .assert_ok("1006's international call", &gw.log());
    let carrier = carrier.join().expect("carrier");
    carrier.assert_ok("carrier answering 1006", &gw.log());
    assert!(
        carrier
            .messages
            .contains("INVITE sip:011442071234567@127.0.0.7"),
        "{}",
        carrier.report()
    );
    // The refused call never reached the carrier: it answered one call only.
    assert_eq!(
        carrier.messages.matches("INVITE sip:").count(),
        1,
        "{}",
        carrier.report()
    );
    wait_api(
        &gw,
        "limit_usage hash outbound 1006",
        "0",
        Duration::from_secs(5),
    );
}

#[test]
fn the_factory_caps_calls_out_per_account_and_the_usage_follows_the_calls() {
    let carrier_port = free_port_on(CARRIER_IP);
    // The carrier answers the two calls the cap lets through, and no third.
    let carrier = Sipp::new("uas_answer.xml", "127.0.0.1:9".parse().expect("addr"))
        .local_ip(CARRIER_IP)
        .local_port(carrier_port)
        .calls(2)
        .pause_ms(100)
        .timeout(Duration::from_secs(25));
    let carrier = thread::spawn(move || carrier.run());
    thread::sleep(Duration::from_millis(300));
    let gw = factory_with_carrier(carrier_port);

    // Two calls out from 1006, up for 4 s each.
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let c = phone_call(&gw, CALLER_B, "1006", INTERNATIONAL, 4000);
            thread::spawn(move || c.run())
        })
        .collect();
    wait_api(
        &gw,
        "limit_usage hash outbound 1006",
        "2",
        Duration::from_secs(10),
    );
    let dump = gw.api("hash_dump limit");
    assert!(dump.contains("L/outbound_1006/2/0/0/"), "{dump}");
    // A third while both are up: busy, before the carrier sees it.
    let run = refused_call(&gw, CALLER_B, "1006", INTERNATIONAL).run();
    run.assert_ok("the third call out", &gw.log());
    assert!(run.messages.contains("SIP/2.0 486 "), "{}", run.report());
    assert!(
        gw.log().contains("limit outbound 1006 exceeded"),
        "{}",
        tail(&gw.log(), 4000)
    );
    // Another account is not held back by 1006's calls (it is refused for its
    // toll_allow, not for the cap).
    assert_eq!(
        gw.api("limit_usage hash outbound 1005").trim(),
        "0",
        "1005 holds nothing"
    );
    for c in calls {
        c.join()
            .expect("caller")
            .assert_ok("a call within the cap", &gw.log());
    }
    carrier
        .join()
        .expect("carrier")
        .assert_ok("carrier", &gw.log());
    // Both hung up: the account's usage is back to 0 and its item freed.
    wait_api(
        &gw,
        "limit_usage hash outbound 1006",
        "0",
        Duration::from_secs(5),
    );
    let dump = gw.api("hash_dump limit");
    assert!(!dump.contains("outbound_1006"), "{dump}");
    // And a new call goes out again (the cap counts calls up, not calls made).
    let carrier = Sipp::new("uas_answer.xml", "127.0.0.1:9".parse().expect("addr"))
        .local_ip(CARRIER_IP)
        .local_port(carrier_port)
        .pause_ms(100)
        .timeout(Duration::from_secs(20));
    let carrier = thread::spawn(move || carrier.run());
    thread::sleep(Duration::from_millis(300));
    phone_call(&gw, CALLER_B, "1006", INTERNATIONAL, 200)
        .run()
        .assert_ok("a call after the others ended", &gw.log());
    carrier
        .join()
        .expect("carrier")
        .assert_ok("carrier, again", &gw.log());
}
