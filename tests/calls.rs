//! Calls through the gateway with SIPp on both sides: a caller (uac, authenticated
//! with 407) and registered phones (uas) reached through the dialplan's `bridge`.
//! Each test checks SIPp's outcome on both sides and the call records left behind.

mod common;

use common::sipp::{Sipp, SippRun};
use common::Gateway;
use std::thread;
use std::time::Duration;

/// A small dialplan: extensions 10xx bridge to the user, 9196 is the echo test,
/// 2000 rings 1002 and 1003 at once, 2001 one after the other, 486 is busy.
const DIALPLAN: &str = r#"<include>
  <context name="default">
    <extension name="echo">
      <condition field="destination_number" expression="^9196$">
        <action application="answer"/>
        <action application="echo"/>
      </condition>
    </extension>
    <extension name="tone">
      <condition field="destination_number" expression="^9197$">
        <action application="answer"/>
        <action application="playback" data="tone_stream://%(500,0,1000)"/>
        <action application="hangup"/>
      </condition>
    </extension>
    <extension name="park">
      <condition field="destination_number" expression="^9999$">
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="busy">
      <condition field="destination_number" expression="^486$">
        <action application="respond" data="486 Busy Here"/>
      </condition>
    </extension>
    <extension name="simultaneous">
      <condition field="destination_number" expression="^2000$">
        <action application="set" data="call_timeout=5"/>
        <action application="bridge" data="user/1002,user/1003"/>
      </condition>
    </extension>
    <extension name="sequential">
      <condition field="destination_number" expression="^2001$">
        <action application="set" data="call_timeout=3"/>
        <action application="bridge" data="user/1002|user/1003"/>
      </condition>
    </extension>
    <extension name="local">
      <condition field="destination_number" expression="^(10[0-9][0-9])$">
        <action application="set" data="call_timeout=3"/>
        <action application="set" data="hangup_after_bridge=true"/>
        <action application="bridge" data="user/$1"/>
      </condition>
    </extension>
  </context>
</include>
"#;

fn gateway() -> Gateway {
    Gateway::builder()
        .user("1001", "secret1001")
        .user("1002", "secret1002")
        .user("1003", "secret1003")
        .file("dialplan/default.xml", DIALPLAN)
        .start()
}

/// A caller: 1001 dials `dest` and hangs up after `hold_ms`.
fn caller(gw: &Gateway, dest: &str, hold_ms: u32) -> Sipp {
    Sipp::new("uac_call.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", dest)
        .pause_ms(hold_ms)
        .timeout(Duration::from_secs(20))
}

/// Registers `user` (password `secret{user}`) from a free port and returns the port.
fn register_from_fresh_port(gw: &Gateway, user: &str) -> u16 {
    let port = common::ports::free_udp_tcp_port();
    Sipp::new("register.xml", gw.sip_addr())
        .user(user, &format!("secret{user}"))
        .local_port(port)
        .run()
        .assert_ok(&format!("register {user}"), "");
    port
}

/// Registers `user` from a fixed port, then runs `scenario` there in the background
/// (the phone waits for the call).
fn phone(gw: &Gateway, user: &str, scenario: &str, ring_ms: u32) -> thread::JoinHandle<SippRun> {
    let port = register_from_fresh_port(gw, user);
    let sipp = Sipp::new(scenario, gw.sip_addr())
        .local_port(port)
        .pause_ms(ring_ms)
        .timeout(Duration::from_secs(20));
    thread::spawn(move || sipp.run())
}

/// A registered phone whose media is a socket of the test's: `user` registers from a
/// fresh port, then answers with `scenario` from it, its SDP naming `rtp_port`.
fn phone_with_media(
    gw: &Gateway,
    user: &str,
    scenario: &str,
    rtp_port: &str,
    timeout: Duration,
) -> thread::JoinHandle<SippRun> {
    let port = register_from_fresh_port(gw, user);
    let sipp = Sipp::new(scenario, gw.sip_addr())
        .local_port(port)
        .key("rtp_port", rtp_port)
        .timeout(timeout);
    thread::spawn(move || sipp.run())
}

/// The CDR list's rows (after its header), waiting a little for the writer.
fn cdr_rows(gw: &Gateway, n: usize) -> Vec<String> {
    for _ in 0..50 {
        let out = gw.api("cdr list 50");
        let rows: Vec<String> = out
            .lines()
            .skip(1)
            .filter(|l| l.contains(','))
            .map(str::to_string)
            .collect();
        if rows.len() >= n {
            return rows;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("fewer than {n} CDRs: {}", gw.api("cdr list 50"));
}

#[test]
fn a_registered_phone_answers_and_the_caller_hangs_up() {
    let gw = gateway();
    let callee = phone(&gw, "1002", "uas_answer.xml", 300);
    thread::sleep(Duration::from_millis(200));
    caller(&gw, "1002", 1500)
        .run()
        .assert_ok("caller", &gw.log());
    // The record is listed as soon as the caller's BYE is answered. (That the 200
    // waits for the record's sync is shown by the dialog and switch unit tests; here
    // the CLI's own start-up would hide a few milliseconds' difference.)
    let listed = gw.api("cdr list 5");
    assert!(
        listed.contains(",1001,1002,"),
        "record not there when the BYE was answered:\n{listed}"
    );
    let callee = callee.join().expect("callee thread");
    callee.assert_ok("callee", &gw.log());
    // Both legs recorded: the A-leg NORMAL_CLEARING with about a second of billsec.
    let rows = cdr_rows(&gw, 2);
    let a = rows
        .iter()
        .find(|r| r.contains(",1001,1002,"))
        .unwrap_or_else(|| panic!("no A-leg record 1001 -> 1002 in {rows:?}"));
    let cols: Vec<&str> = a.split(',').collect();
    assert_eq!(cols[6], "NORMAL_CLEARING", "{a}");
    let billsec: u64 = cols[5].parse().expect("billsec");
    assert!(
        (1..=3).contains(&billsec),
        "billsec {billsec} for a 1.5 s call: {a}"
    );
    assert_eq!(gw.api("show channels count").trim(), "0 total.");
    let status = gw.api("status");
    assert!(status.contains("2 session(s) since startup"), "{status}");
    assert!(status.contains("0 session(s) - peak 2"), "{status}");
    assert!(
        status.contains("media: 0 of "),
        "media limits in status: {status}"
    );
}

#[test]
fn the_echo_test_answers_and_records_the_call() {
    let gw = gateway();
    caller(&gw, "9196", 500)
        .run()
        .assert_ok("echo call", &gw.log());
    let rows = cdr_rows(&gw, 1);
    assert!(rows.iter().any(|r| r.contains(",1001,9196,")), "{rows:?}");
}

#[test]
fn respond_486_makes_the_caller_busy() {
    let gw = gateway();
    let run = caller(&gw, "486", 100).run();
    assert!(!run.success(), "a busy call must fail the uac scenario");
    assert!(run.messages.contains("SIP/2.0 486"), "{}", run.report());
    let rows = cdr_rows(&gw, 1);
    assert!(rows.iter().any(|r| r.ends_with(",USER_BUSY")), "{rows:?}");
}

/// A call the gateway refuses: the final status the caller saw.
fn refused_status(gw: &Gateway, dest: &str) -> u16 {
    let run = Sipp::new("uac_refused.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", dest)
        .timeout(Duration::from_secs(20))
        .run();
    run.assert_ok(&format!("refused call to {dest}"), &gw.log());
    [404u16, 480, 486, 487, 488, 503]
        .into_iter()
        .find(|c| run.messages.contains(&format!("SIP/2.0 {c} ")))
        .unwrap_or_else(|| panic!("no final status in {}", run.report()))
}

/// The hangup cause of the newest A-leg record from 1001 to `dest`.
fn a_leg_cause(gw: &Gateway, dest: &str) -> String {
    let rows = cdr_rows(gw, 1);
    let row = rows
        .iter()
        .find(|r| r.contains(&format!(",1001,{dest},")))
        .unwrap_or_else(|| panic!("no record 1001 -> {dest} in {rows:?}"));
    row.rsplit(',').next().unwrap_or_default().to_string()
}

#[test]
fn the_caller_cancels_while_the_phone_rings() {
    let gw = gateway();
    let callee = phone(&gw, "1002", "uas_ring_cancelled.xml", 0);
    thread::sleep(Duration::from_millis(200));
    Sipp::new("uac_cancel.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "1002")
        .pause_ms(700)
        .timeout(Duration::from_secs(20))
        .run()
        .assert_ok("caller cancelling", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee sees CANCEL", &gw.log());
    assert_eq!(a_leg_cause(&gw, "1002"), "ORIGINATOR_CANCEL");
}

#[test]
fn no_answer_within_call_timeout_is_480_and_the_phone_is_cancelled() {
    let gw = gateway();
    let callee = phone(&gw, "1002", "uas_ring_cancelled.xml", 0);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(refused_status(&gw, "1002"), 480);
    callee
        .join()
        .expect("callee")
        .assert_ok("callee cancelled at call_timeout", &gw.log());
    assert_eq!(a_leg_cause(&gw, "1002"), "NO_ANSWER");
}

#[test]
fn a_busy_phone_makes_the_caller_busy() {
    let gw = gateway();
    let callee = phone(&gw, "1002", "uas_busy.xml", 0);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(refused_status(&gw, "1002"), 486);
    callee
        .join()
        .expect("callee")
        .assert_ok("busy callee", &gw.log());
    assert_eq!(a_leg_cause(&gw, "1002"), "USER_BUSY");
}

#[test]
fn unknown_unregistered_and_unrouted_numbers_fail_with_their_causes() {
    let gw = gateway();
    // 1099 is not in the directory, 1003 is but has not registered, 5555 matches no
    // extension.
    assert_eq!(refused_status(&gw, "1099"), 404);
    assert_eq!(a_leg_cause(&gw, "1099"), "UNALLOCATED_NUMBER");
    assert_eq!(refused_status(&gw, "1003"), 480);
    assert_eq!(a_leg_cause(&gw, "1003"), "USER_NOT_REGISTERED");
    assert_eq!(refused_status(&gw, "5555"), 404);
    assert_eq!(a_leg_cause(&gw, "5555"), "NO_ROUTE_DESTINATION");
}

#[test]
fn a_simultaneous_ring_group_takes_the_first_to_answer_and_cancels_the_other() {
    let gw = gateway();
    let answers = phone(&gw, "1002", "uas_answer.xml", 400);
    let cancelled = phone(&gw, "1003", "uas_ring_cancelled.xml", 0);
    thread::sleep(Duration::from_millis(200));
    caller(&gw, "2000", 500)
        .run()
        .assert_ok("caller", &gw.log());
    answers
        .join()
        .expect("1002")
        .assert_ok("1002 answers", &gw.log());
    cancelled
        .join()
        .expect("1003")
        .assert_ok("1003 is cancelled", &gw.log());
}

#[test]
fn a_sequential_ring_group_tries_the_next_when_the_first_is_busy() {
    let gw = gateway();
    let busy = phone(&gw, "1002", "uas_busy.xml", 0);
    let answers = phone(&gw, "1003", "uas_answer.xml", 200);
    thread::sleep(Duration::from_millis(200));
    caller(&gw, "2001", 500)
        .run()
        .assert_ok("caller", &gw.log());
    busy.join().expect("1002").assert_ok("1002 busy", &gw.log());
    answers
        .join()
        .expect("1003")
        .assert_ok("1003 answers", &gw.log());
    assert_eq!(a_leg_cause(&gw, "2001"), "NORMAL_CLEARING");
}

/// cdr_csv.conf.xml with FreeSWITCH's example fields plus what a carrier dispute
/// needs: disposition, network address, RTP counts.
const CDR_CSV: &str = r#"<configuration name="cdr_csv.conf">
  <settings>
    <param name="default-template" value="full"/>
    <param name="legs" value="ab"/>
  </settings>
  <templates>
    <template name="full">"${caller_id_name}","${caller_id_number}","${destination_number}","${context}","${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}","${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}","${sip_hangup_disposition}","${network_addr}","${rtp_audio_in_media_packet_count}","${rtp_audio_out_media_packet_count}"</template>
  </templates>
</configuration>
"#;

#[test]
fn media_is_relayed_transcoded_and_hold_is_passed_through() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .user("1002", "secret1002")
        .file("dialplan/default.xml", DIALPLAN)
        .file("autoload_configs/cdr_csv.conf.xml", CDR_CSV)
        .start();
    // The callee's RTP lands on a socket of ours: count what the gateway relays.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind RTP socket");
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let rtp_port = rtp.local_addr().expect("addr").port().to_string();
    let callee = phone_with_media(
        &gw,
        "1002",
        "uas_answer_hold.xml",
        &rtp_port,
        Duration::from_secs(20),
    );
    let counter = thread::spawn(move || {
        let (mut packets, mut pcmu) = (0u32, 0u32);
        let mut buf = [0u8; 2048];
        let end = std::time::Instant::now() + Duration::from_secs(6);
        while std::time::Instant::now() < end {
            if let Ok((n, _)) = rtp.recv_from(&mut buf) {
                if n >= 12 && buf[0] >> 6 == 2 {
                    packets += 1;
                    if buf[1] & 0x7f == 0 {
                        pcmu += 1;
                    }
                }
            }
        }
        (packets, pcmu)
    });
    thread::sleep(Duration::from_millis(200));
    Sipp::new("uac_hold_media.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "1002")
        .pause_ms(2000)
        .timeout(Duration::from_secs(20))
        .run()
        .assert_ok("caller with media and hold", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee held and unheld", &gw.log());
    let (packets, pcmu) = counter.join().expect("counter");
    // SIPp plays g711a.pcap (PCMA, 20 ms packets) for the 2 s before the hold.
    assert!(
        packets >= 50,
        "only {packets} RTP packets reached the callee"
    );
    assert_eq!(
        pcmu, packets,
        "the callee negotiated PCMU: every packet must be transcoded"
    );
    let rows = cdr_rows(&gw, 2);
    assert!(
        rows.iter()
            .any(|r| r.contains(",1001,1002,") && r.ends_with("NORMAL_CLEARING")),
        "{rows:?}"
    );
    // The A-leg's CSV line: FreeSWITCH's fields, filled.
    let csv =
        std::fs::read_to_string(gw.data_dir().join("cdr-csv/Master.csv")).expect("Master.csv");
    let a_leg = csv
        .lines()
        .find(|l| l.starts_with("\"Caller 1001\",\"1001\",\"1002\""))
        .unwrap_or_else(|| panic!("no A-leg line in Master.csv:\n{csv}"));
    let f: Vec<&str> = a_leg.split("\",\"").map(|v| v.trim_matches('"')).collect();
    assert_eq!(f.len(), 19, "{a_leg}");
    assert_eq!(f[3], "default", "context: {a_leg}");
    assert!(!f[5].is_empty(), "answer_stamp: {a_leg}");
    let (duration, billsec): (u64, u64) = (
        f[7].parse().expect("duration"),
        f[8].parse().expect("billsec"),
    );
    assert!(
        billsec >= 2 && duration >= billsec,
        "duration {duration} billsec {billsec}: {a_leg}"
    );
    assert_eq!(f[9], "NORMAL_CLEARING");
    assert_eq!(f[10].len(), 36, "uuid: {a_leg}");
    assert_eq!(f[11].len(), 36, "bleg_uuid: {a_leg}");
    assert_eq!(
        (f[13], f[14]),
        ("PCMA", "PCMA"),
        "the caller's codec: {a_leg}"
    );
    assert_eq!(f[15], "recv_bye");
    assert_eq!(f[16], "127.0.0.1");
    let media_in: u64 = f[17]
        .parse()
        .unwrap_or_else(|_| panic!("RTP count: {a_leg}"));
    assert!(media_in >= 50, "RTP packets from the caller: {a_leg}");
    // The B-leg's line too (legs=ab), with its own codec.
    assert!(
        csv.lines()
            .any(|l| l.contains("\"PCMU\",\"PCMU\",\"send_bye\"")),
        "{csv}"
    );
}

#[test]
fn event_socket_clients_see_the_channel_events_of_a_call() {
    let gw = gateway();
    let mut esl = common::esl::EslConn::connect(gw.esl_port());
    esl.expect_type("auth/request");
    esl.auth(&gw.esl_password());
    esl.send("event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE");
    esl.expect_type("command/reply");
    let callee = phone(&gw, "1002", "uas_answer.xml", 200);
    thread::sleep(Duration::from_millis(200));
    caller(&gw, "1002", 500)
        .run()
        .assert_ok("caller", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee", &gw.log());
    let mut seen: Vec<Vec<(String, String)>> = Vec::new();
    let mut completes = 0;
    while completes < 2 {
        let frame = esl
            .read_frame()
            .unwrap_or_else(|e| panic!("event stream ended after {} events: {e}", seen.len()));
        if frame.header("Content-Type") != Some("text/event-plain") {
            continue;
        }
        let h = common::esl::event_headers(&frame.body_text());
        if h.iter()
            .any(|(k, v)| k == "Event-Name" && v == "CHANNEL_HANGUP_COMPLETE")
        {
            completes += 1;
        }
        seen.push(h);
    }
    let get = |e: &Vec<(String, String)>, name: &str| {
        e.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let a_uuid = get(&seen[0], "Unique-ID");
    assert_eq!(get(&seen[0], "Event-Name"), "CHANNEL_CREATE");
    assert_eq!(get(&seen[0], "Caller-Destination-Number"), "1002");
    let a_events: Vec<String> = seen
        .iter()
        .filter(|e| get(e, "Unique-ID") == a_uuid)
        .map(|e| get(e, "Event-Name"))
        .collect();
    assert_eq!(
        a_events,
        [
            "CHANNEL_CREATE",
            "CHANNEL_ANSWER",
            "CHANNEL_BRIDGE",
            "CHANNEL_HANGUP_COMPLETE"
        ],
        "the A-leg's events"
    );
    let bridge = seen
        .iter()
        .find(|e| get(e, "Event-Name") == "CHANNEL_BRIDGE")
        .expect("bridge");
    assert_eq!(get(bridge, "Bridge-A-Unique-ID"), a_uuid);
    let complete = seen
        .iter()
        .find(|e| {
            get(e, "Event-Name") == "CHANNEL_HANGUP_COMPLETE" && get(e, "Unique-ID") == a_uuid
        })
        .expect("complete");
    assert_eq!(get(complete, "Hangup-Cause"), "NORMAL_CLEARING");
    assert_eq!(get(complete, "Call-Direction"), "inbound");
}

#[test]
fn originate_rings_a_registered_phone_and_runs_the_application() {
    let gw = gateway();
    let callee = phone(&gw, "1002", "uas_answer.xml", 200);
    thread::sleep(Duration::from_millis(200));
    let out = gw.api("originate user/1002 &playback(tone_stream://%(300,0,440))");
    assert!(out.starts_with("+OK "), "originate: {out}");
    let uuid = out.trim_start_matches("+OK ").trim();
    assert_eq!(uuid.len(), 36, "{out}");
    // The tone ends, the plan ends, the gateway hangs up: the phone sees the BYE.
    callee
        .join()
        .expect("callee")
        .assert_ok("originated phone", &gw.log());
    let rows = cdr_rows(&gw, 1);
    assert!(
        rows.iter()
            .any(|r| r.starts_with(uuid) && r.ends_with("NORMAL_CLEARING")),
        "{rows:?}"
    );
}

#[test]
fn reloadxml_takes_a_new_dialplan_and_keeps_the_old_one_when_the_new_is_broken() {
    let gw = gateway();
    assert_eq!(refused_status(&gw, "7777"), 404);
    let path = gw.conf_dir().join("dialplan/default.xml");
    let with_7777 = DIALPLAN.replace("^9196$", "^(9196|7777)$");
    std::fs::write(&path, &with_7777).expect("write dialplan");
    let out = gw.api("reloadxml");
    assert!(out.contains("+OK"), "{out}");
    caller(&gw, "7777", 300)
        .run()
        .assert_ok("7777 after reloadxml", &gw.log());
    // A broken file: an error naming it, and 7777 still answers.
    std::fs::write(&path, with_7777.replace("</context>", "")).expect("write broken dialplan");
    let out = gw.try_api("reloadxml");
    assert!(!out.success(), "a broken dialplan must fail reloadxml");
    assert!(
        out.all().contains("default.xml:"),
        "the error names the file and line: {}",
        out.all()
    );
    caller(&gw, "7777", 300)
        .run()
        .assert_ok("7777 after a failed reloadxml", &gw.log());
}

/// 1001 calls `dest` and waits for the gateway's BYE (in the background).
fn parked_caller(gw: &Gateway, dest: &str) -> thread::JoinHandle<SippRun> {
    let sipp = Sipp::new("uac_wait_bye.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", dest)
        .timeout(Duration::from_secs(20));
    thread::spawn(move || sipp.run())
}

/// The uuids in `show channels`, waiting until there are `n`.
fn channel_uuids(gw: &Gateway, n: usize) -> Vec<String> {
    for _ in 0..50 {
        let uuids = gw.channel_uuids();
        if uuids.len() >= n {
            return uuids;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("fewer than {n} channels: {}", gw.api("show channels"));
}

#[test]
fn channel_variables_and_transfer_through_the_api() {
    let gw = gateway();
    let call = parked_caller(&gw, "9999");
    let uuid = channel_uuids(&gw, 1).remove(0);
    assert_eq!(
        gw.api(&format!("uuid_getvar {uuid} destination_number"))
            .trim(),
        "9999"
    );
    assert_eq!(gw.api(&format!("uuid_setvar {uuid} foo bar")).trim(), "+OK");
    assert_eq!(gw.api(&format!("uuid_getvar {uuid} foo")).trim(), "bar");
    assert!(gw.api("show calls").contains(&uuid));
    assert!(!gw
        .try_api("uuid_getvar 00000000-0000-0000-0000-000000000000 foo")
        .success());
    // To the tone extension: it plays, then hangs up; the caller gets the BYE.
    assert_eq!(
        gw.api(&format!("uuid_transfer {uuid} 9197 XML default"))
            .trim(),
        "+OK"
    );
    call.join()
        .expect("caller")
        .assert_ok("transferred caller", &gw.log());
    let rows = cdr_rows(&gw, 1);
    assert!(
        rows.iter().any(|r| r.starts_with(&uuid)
            && r.contains(",9197,")
            && r.ends_with("NORMAL_CLEARING")),
        "{rows:?}"
    );
}

#[test]
fn uuid_bridge_joins_two_parked_calls_and_hupall_ends_everything() {
    let gw = gateway();
    let first = parked_caller(&gw, "9999");
    channel_uuids(&gw, 1);
    let second = parked_caller(&gw, "9999");
    let uuids = channel_uuids(&gw, 2);
    let out = gw.api(&format!("uuid_bridge {} {}", uuids[0], uuids[1]));
    assert!(out.starts_with("+OK"), "{out}");
    let calls = gw.api("show calls");
    assert!(
        calls.contains("1 total."),
        "two bridged channels are one call: {calls}"
    );
    let out = gw.api("hupall");
    assert!(out.contains("+OK"), "{out}");
    first
        .join()
        .expect("first")
        .assert_ok("first caller", &gw.log());
    second
        .join()
        .expect("second")
        .assert_ok("second caller", &gw.log());
    assert_eq!(gw.api("show channels count").trim(), "0 total.");
    let rows = cdr_rows(&gw, 2);
    assert!(
        rows.iter().any(|r| r.ends_with("MANAGER_REQUEST")),
        "{rows:?}"
    );
}

/// Two parked callers, bridged with `uuid_bridge`; their uuids in that order.
fn two_bridged_callers(
    gw: &Gateway,
) -> (
    Vec<String>,
    thread::JoinHandle<SippRun>,
    thread::JoinHandle<SippRun>,
) {
    let first = parked_caller(gw, "9999");
    let a = channel_uuids(gw, 1).remove(0);
    let second = parked_caller(gw, "9999");
    let b = channel_uuids(gw, 2)
        .into_iter()
        .find(|u| *u != a)
        .expect("the second channel");
    let out = gw.api(&format!("uuid_bridge {a} {b}"));
    assert!(out.starts_with("+OK"), "{out}");
    (vec![a, b], first, second)
}

#[test]
fn uuid_transfer_both_sends_each_bridged_channel_to_the_extension() {
    let gw = gateway();
    let (uuids, first, second) = two_bridged_callers(&gw);
    let out = gw.api(&format!(
        "uuid_transfer {} -both 9197 XML default",
        uuids[0]
    ));
    assert_eq!(out.trim(), "+OK");
    // Each hears the tone extension and is hung up by it.
    for (n, call) in [first, second].into_iter().enumerate() {
        call.join()
            .expect("caller")
            .assert_ok(&format!("caller {n} transferred"), &gw.log());
    }
    let rows = cdr_rows(&gw, 2);
    for uuid in &uuids {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(uuid.as_str()) && r.contains(",9197,")),
            "{uuid} did not reach 9197: {rows:?}"
        );
    }
}

#[test]
fn uuid_transfer_bleg_moves_only_the_bridged_channel() {
    let gw = gateway();
    let (uuids, first, second) = two_bridged_callers(&gw);
    let out = gw.api(&format!("uuid_transfer {} -bleg 9197", uuids[0]));
    assert_eq!(out.trim(), "+OK");
    for call in [first, second] {
        call.join().expect("caller").assert_ok("caller", &gw.log());
    }
    let rows = cdr_rows(&gw, 2);
    let row = |uuid: &str| {
        rows.iter()
            .find(|r| r.starts_with(uuid))
            .cloned()
            .unwrap_or_default()
    };
    assert!(row(&uuids[1]).contains(",9197,"), "{rows:?}");
    assert!(!row(&uuids[0]).contains(",9197,"), "{rows:?}");
}

#[test]
fn a_call_without_rtp_is_hung_up_at_rtp_timeout_sec() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", DIALPLAN)
        .profile_param("rtp-timeout-sec", "2")
        .start();
    // The caller sends no RTP at all: two seconds later the gateway hangs up.
    let started = std::time::Instant::now();
    parked_caller(&gw, "9999")
        .join()
        .expect("caller")
        .assert_ok("caller hung up by the gateway", &gw.log());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1800),
        "hung up after {took:?}, before the timeout"
    );
    assert_eq!(a_leg_cause(&gw, "9999"), "MEDIA_TIMEOUT");
}

/// The factory configuration's dialplan and globals (its domain pinned to the test's).
fn factory_gateway() -> Gateway {
    let repo = common::repo();
    let vars = std::fs::read_to_string(repo.join("conf/vars.xml"))
        .expect("conf/vars.xml")
        .replace(
            "domain=$${local_ip_v4}",
            &format!("domain={}", common::DOMAIN),
        );
    let dialplan =
        std::fs::read_to_string(repo.join("conf/dialplan/default.xml")).expect("factory dialplan");
    Gateway::builder()
        .user("1001", "secret1001")
        .user("1002", "secret1002")
        .user("1003", "secret1003")
        .file("vars.xml", &vars)
        .file("dialplan/default.xml", &dialplan)
        .start()
}

#[test]
fn the_factory_dialplan_rings_an_extension_with_ringback_as_early_media() {
    let gw = factory_gateway();
    let callee = phone(&gw, "1002", "uas_answer.xml", 1500);
    thread::sleep(Duration::from_millis(200));
    let run = caller(&gw, "1002", 500).run();
    run.assert_ok("caller", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee", &gw.log());
    // `ringback` is set: while 1002 rings, the caller gets 183 with our SDP and hears
    // the tone as early media, then the 200.
    let early = run
        .messages
        .split("SIP/2.0 183")
        .nth(1)
        .unwrap_or_else(|| panic!("no 183 for the ringback: {}", run.report()));
    assert!(
        early.contains("m=audio"),
        "183 without SDP: {}",
        run.report()
    );
    assert_eq!(a_leg_cause(&gw, "1002"), "NORMAL_CLEARING");
}

#[test]
fn the_factory_dialplan_answers_its_test_numbers_and_hunts_its_sequential_group() {
    let gw = factory_gateway();
    caller(&gw, "9196", 300)
        .run()
        .assert_ok("echo test 9196", &gw.log());
    caller(&gw, "9664", 300)
        .run()
        .assert_ok("hold music 9664", &gw.log());
    // 2001 tries 1001 (the caller, not registered), 1002 (busy), then 1003.
    let busy = phone(&gw, "1002", "uas_busy.xml", 0);
    let answers = phone(&gw, "1003", "uas_answer.xml", 200);
    thread::sleep(Duration::from_millis(200));
    caller(&gw, "2001", 300)
        .run()
        .assert_ok("support group 2001", &gw.log());
    busy.join().expect("1002").assert_ok("1002 busy", &gw.log());
    answers
        .join()
        .expect("1003")
        .assert_ok("1003 answers", &gw.log());
}

#[test]
fn unauthenticated_callers_land_in_the_public_context() {
    let repo = common::repo();
    let public =
        std::fs::read_to_string(repo.join("conf/dialplan/public.xml")).expect("public.xml");
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .user("1002", "secret1002")
        .file("dialplan/default.xml", DIALPLAN)
        .file("dialplan/public.xml", &public)
        .profile_param("auth-calls", "false")
        .profile_param("apply-inbound-acl", "loopback.auto")
        .profile_param("context", "public")
        .start();
    // public.xml sends 1002 into "default", where it is bridged.
    let callee = phone(&gw, "1002", "uas_answer.xml", 200);
    thread::sleep(Duration::from_millis(200));
    Sipp::new("uac_noauth.xml", gw.sip_addr())
        .user("5551234", "unused")
        .key("dest", "1002")
        .pause_ms(300)
        .run()
        .assert_ok("call from outside", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee", &gw.log());
    // 1099 is not let through from outside: public's catch-all rejects it, logged.
    let run = Sipp::new("uac_noauth.xml", gw.sip_addr())
        .user("5551234", "unused")
        .key("dest", "1099")
        .pause_ms(300)
        .run();
    assert!(!run.success());
    assert!(
        run.messages.contains("SIP/2.0 603 Decline"),
        "{}",
        run.report()
    );
    assert!(
        gw.log().contains("unknown DID 1099 from 127.0.0.1"),
        "{}",
        gw.log()
    );
}

#[test]
fn both_directions_of_a_call_carry_every_packet_for_seconds() {
    let gw = gateway();
    let phone_a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind A");
    let phone_b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind B");
    let port_of = |s: &std::net::UdpSocket| s.local_addr().expect("addr").port().to_string();
    let callee = phone_with_media(
        &gw,
        "1002",
        "uas_answer_rtp.xml",
        &port_of(&phone_b),
        Duration::from_secs(30),
    );
    thread::sleep(Duration::from_millis(200));
    let caller = Sipp::new("uac_call_rtp.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "1002")
        .key("rtp_port", &port_of(&phone_a))
        .pause_ms(7000)
        .timeout(Duration::from_secs(30));
    let caller = thread::spawn(move || caller.run());
    // The gateway's own port for each leg, from its channel variables.
    let (inbound, outbound) = common::rtp::leg_media_ports(&gw);
    let to_a = std::net::SocketAddr::from(([127, 0, 0, 1], inbound));
    let to_b = std::net::SocketAddr::from(([127, 0, 0, 1], outbound));
    // Six seconds: past the first RTCP report (5 s), which once stopped the relay.
    let (at_a, at_b) = common::rtp::exchange(&phone_a, to_a, &phone_b, to_b, 300);
    caller
        .join()
        .expect("caller")
        .assert_ok("caller", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee", &gw.log());
    assert_eq!(
        (at_a, at_b),
        (300, 300),
        "RTP packets that crossed the gateway each way"
    );
}

#[test]
fn a_late_offer_call_gets_our_offer_in_the_200_and_answers_in_the_ack() {
    let gw = gateway();
    Sipp::new("uac_late_offer.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "9196")
        .pause_ms(500)
        .run()
        .assert_ok("late-offer call to the echo test", &gw.log());
    let rows = cdr_rows(&gw, 1);
    assert!(
        rows.iter()
            .any(|r| r.contains(",1001,9196,") && r.ends_with("NORMAL_CLEARING")),
        "{rows:?}"
    );
}

#[test]
fn a_second_profile_without_auth_refuses_callers_outside_its_acl_with_403() {
    let port = common::ports::free_udp_tcp_port();
    let external = format!(
        "<profile name=\"external\"><settings>\
         <param name=\"sip-ip\" value=\"127.0.0.1\"/><param name=\"sip-port\" value=\"{port}\"/>\
         <param name=\"auth-calls\" value=\"false\"/></settings></profile>"
    );
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", DIALPLAN)
        .file("sip_profiles/external.xml", &external)
        .start();
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    Sipp::new("register.xml", target)
        .user("1001", "secret1001")
        .run()
        .assert_ok("REGISTER on the second profile", &gw.log());
    let run = Sipp::new("uac_noauth.xml", target)
        .user("5551234", "unused")
        .key("dest", "9196")
        .run();
    assert!(!run.success());
    assert!(run.messages.contains("SIP/2.0 403"), "{}", run.report());
    assert!(
        gw.log().contains("not in its apply-inbound-acl"),
        "the refusal is logged for the operator:\n{}",
        gw.log()
    );
    // The first profile still carries calls.
    caller(&gw, "9196", 300)
        .run()
        .assert_ok("echo on the first profile", &gw.log());
}

#[test]
fn info_and_uuid_send_dtmf_digits_reach_an_rfc2833_phone_as_telephone_events_in_its_rtp() {
    let gw = gateway();
    // 1002 offers telephone-event 101, with its media on a socket this test owns.
    let phone_b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind B");
    let rtp_port = phone_b.local_addr().expect("addr").port().to_string();
    let callee = phone_with_media(
        &gw,
        "1002",
        "uas_answer_rtp.xml",
        &rtp_port,
        Duration::from_secs(20),
    );
    thread::sleep(Duration::from_millis(200));
    // 1001 presses 5 (160 ms) in an INFO right after the answer, then talks 2 s.
    let caller = Sipp::new("uac_call_info_dtmf.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "1002")
        .pause_ms(2000)
        .timeout(Duration::from_secs(20));
    let caller = thread::spawn(move || caller.run());
    // Meanwhile the operator sends 9 (100 ms) to 1002's channel: `uuid_send_dtmf`.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let callee_uuid = loop {
        let rows = gw.api("show channels");
        if let Some(row) = rows.lines().find(|l| l.contains(",outbound,")) {
            break row.split(',').next().unwrap_or_default().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no outbound channel: {rows}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    let reply = gw.api(&format!("uuid_send_dtmf {callee_uuid} 9@100"));
    assert_eq!(reply.trim(), format!("+OK {callee_uuid} sent DTMF 9@100."));
    let bad = gw.try_api(&format!("uuid_send_dtmf {callee_uuid} 1w2"));
    assert!(bad.stdout.starts_with("-ERR"), "{}", bad.describe());
    caller
        .join()
        .expect("caller")
        .assert_ok("the caller pressing 5", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("callee", &gw.log());

    phone_b
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut events = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = phone_b.recv_from(&mut buf) {
        if n == 16 && buf[1] & 0x7F == 101 {
            events.push(buf[..n].to_vec());
        }
    }
    // Two events (one timestamp each): per digit its duration in 20 ms steps, then
    // the end twice more, at -10 dBm0.
    let mut digits: Vec<(u8, u32, Vec<u16>)> = Vec::new();
    for p in &events {
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let duration = u16::from_be_bytes([p[14], p[15]]);
        assert_eq!(p[13] & 0x3F, 10, "volume");
        match digits.last_mut() {
            Some((_, t, d)) if *t == ts => d.push(duration),
            _ => digits.push((p[12], ts, vec![duration])),
        }
    }
    let steps = |ms: u16| -> Vec<u16> {
        let mut v: Vec<u16> = (1..=ms / 20).map(|i| 160 * i).collect();
        v.extend([8 * ms, 8 * ms]);
        v
    };
    let mut got: Vec<(u8, Vec<u16>)> = digits.into_iter().map(|(e, _, d)| (e, d)).collect();
    got.sort();
    assert_eq!(
        got,
        [(5, steps(160)), (9, steps(100))],
        "telephone-events at 1002 (the INFO's 5, the API's 9):\n{}",
        gw.log()
    );
}

#[test]
fn a_digit_sent_in_info_reaches_the_bridged_phone_and_is_an_event() {
    let gw = gateway();
    let mut esl = common::esl::EslConn::logged_in(&gw);
    esl.subscribe("DTMF");
    // 1002 offers no telephone-event: it takes DTMF in INFO, and its scenario fails
    // unless an INFO with Signal=5 arrives.
    let callee = phone(&gw, "1002", "uas_answer_info_dtmf.xml", 200);
    thread::sleep(Duration::from_millis(200));
    Sipp::new("uac_call_info_dtmf.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "1002")
        .pause_ms(1000)
        .timeout(Duration::from_secs(20))
        .run()
        .assert_ok("the caller pressing 5", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("the callee getting INFO Signal=5", &gw.log());
    let e = esl.wait_event(
        |e| e.get("Event-Name") == Some("DTMF"),
        Duration::from_secs(5),
    );
    assert_eq!(e.get("DTMF-Digit"), Some("5"));
    assert_eq!(e.get("DTMF-Duration"), Some("1280"));
    assert_eq!(e.get("Caller-Caller-ID-Number"), Some("1001"));
}
