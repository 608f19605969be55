//! Calls between real phones (baresip) through the gateway, with audio checked
//! end to end: each phone sends a known tone from a WAV file and records what
//! it hears (sndfile); a Goertzel filter then says whether the other side's
//! tone crossed the gateway's anchored media. Also originate/uuid_kill from
//! the API against a registered baresip.

mod common;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::audio::{self, ToneReport};
use common::baresip::Baresip;
use common::{process, Gateway};

/// The caller's tone and the callee's tone; the probes are the frequencies a
/// recording must NOT be dominated by.
const TONE_A: f64 = 1000.0;
const TONE_B: f64 = 600.0;
const PROBES: [f64; 5] = [500.0, 600.0, 1000.0, 1500.0, 2000.0];
/// The tone must stand this far (power ratio, 20 dB) above every probe.
const MIN_RATIO: f64 = 100.0;
/// And the window must not be near silence (the tones are at 0.3 full scale,
/// RMS ≈ 7000; G.711 keeps that within a few %).
const MIN_RMS: f64 = 2000.0;
/// Calls last about 8-9 s (baresip `-t 9`, or 8 s before uuid_kill): longer than
/// the gateway's RTCP interval (5 s), so anything that happens then is heard. A
/// recording must hold at least this much audio.
const CALL_SECS: f64 = 7.0;

fn gateway() -> Gateway {
    Gateway::builder()
        .user("1001", "secret1001")
        .user("1002", "secret1002")
        .file(
            "dialplan/default.xml",
            &common::dialplan::echo_and_users("^(10[0-9][0-9])$"),
        )
        .start()
}

/// Writes a 30 s tone file into the gateway's temp root.
fn tone_file(gw: &Gateway, hz: f64) -> PathBuf {
    let p = gw.root().join(format!("tone-{hz}.wav"));
    audio::write_wav(&p, &audio::tone(hz, 30.0, 0.3));
    p
}

/// Everything needed to understand a failure.
fn logs(gw: &Gateway, phones: &[&Baresip]) -> String {
    let mut s = String::new();
    for p in phones {
        s.push_str(&p.describe());
        s.push('\n');
    }
    s.push_str("--- gateway log ---\n");
    s.push_str(&gw.log());
    s
}

/// The received-audio recording of `phone`: exactly one, waiting (bounded)
/// for sndfile to have written it.
fn recording(gw: &Gateway, phone: &Baresip, others: &[&Baresip]) -> PathBuf {
    let found = process::poll_until(Duration::from_secs(5), || {
        phone.received_recordings().into_iter().next()
    });
    found.unwrap_or_else(|| {
        let mut all = vec![phone];
        all.extend_from_slice(others);
        panic!(
            "no *-dec.wav recording in {}/rec\n{}",
            phone.dir().display(),
            logs(gw, &all)
        )
    })
}

/// Asserts `wav` holds the tone `hz` for at least `min_secs`: the middle half
/// as a whole, and every whole second but the first and last on its own (so audio
/// that stops mid-call fails), loud enough and far above every other probe.
fn assert_tone(
    wav: &Path,
    hz: f64,
    min_secs: f64,
    what: &str,
    on_fail: impl Fn() -> String,
) -> ToneReport {
    let w = audio::read_wav(wav).unwrap_or_else(|e| panic!("{what}: {e}\n{}", on_fail()));
    assert_eq!(
        w.rate,
        audio::RATE,
        "{what}: sample rate of {}",
        wav.display()
    );
    let secs = w.samples.len() as f64 / f64::from(w.rate);
    assert!(
        secs >= min_secs,
        "{what}: {} holds {secs:.2} s of received audio, expected at least {min_secs} s \
         (did the media stop mid-call?)\n{}",
        wav.display(),
        on_fail()
    );
    let others: Vec<f64> = PROBES.iter().copied().filter(|&f| f != hz).collect();
    let check = |r: &ToneReport, part: &str| {
        assert!(
            r.rms >= MIN_RMS && r.ratio() >= MIN_RATIO,
            "{what}: {part} of {} does not hold a {hz} Hz tone (need RMS >= {MIN_RMS}, \
             ratio >= {MIN_RATIO}, got RMS {:.0}, ratio {:.1}): {r:#?}\n{}",
            wav.display(),
            r.rms,
            r.ratio(),
            on_fail()
        );
    };
    let r = audio::analyse(&w.samples, w.rate, hz, &others);
    check(&r, "the middle half");
    let second = w.rate as usize;
    let whole = w.samples.len() / second;
    for i in 1..whole.saturating_sub(1) {
        let block = &w.samples[i * second..(i + 1) * second];
        let b = audio::analyse_window(block, w.rate, hz, &others);
        check(&b, &format!("second {i}"));
    }
    eprintln!(
        "{what}: {secs:.2} s, RMS {:.0}, {hz} Hz stands {:.0}x above the other probes",
        r.rms,
        r.ratio()
    );
    r
}

/// CDR rows (after the header), waiting until `pred` matches one.
fn wait_cdr(gw: &Gateway, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let found = process::poll_until(Duration::from_secs(10), || {
        last = gw.api("cdr list 10");
        last.lines().skip(1).find(|l| pred(l)).map(str::to_string)
    });
    found.unwrap_or_else(|| panic!("no CDR {what} within 10 s; `cdr list 10`:\n{last}"))
}

fn wait_channels(gw: &Gateway, want: &str, timeout: Duration) -> bool {
    process::poll_until(timeout, || {
        (gw.api("show channels count").trim() == want).then_some(())
    })
    .is_some()
}

#[test]
fn goertzel_tells_the_tones_apart() {
    let t = audio::tone(TONE_A, 2.0, 0.3);
    let r = audio::analyse(&t, audio::RATE, TONE_A, &[500.0, 600.0, 1500.0, 2000.0]);
    assert!(r.ratio() > 1e4 && r.rms > MIN_RMS, "{r:?}");
    let r = audio::analyse(&t, audio::RATE, TONE_B, &[1000.0]);
    assert!(r.ratio() < 1e-4, "{r:?}");
    let silence = vec![0i16; 16000];
    assert!(audio::analyse(&silence, audio::RATE, TONE_A, &[500.0]).rms < 1.0);
}

/// 1001 calls 1002 (auto-answer) through `bridge user/1002`; each hears the
/// other's tone; 1001 hangs up (quits) and the CDR says NORMAL_CLEARING.
#[test]
fn two_baresip_phones_talk_through_the_gateway() {
    let gw = gateway();
    let callee = Baresip::builder(&gw, "1002", "secret1002")
        .auto_answer()
        .source(&tone_file(&gw, TONE_B))
        .start();
    callee.wait_registered(&gw, Duration::from_secs(15));

    let mut caller = Baresip::builder(&gw, "1001", "secret1001")
        .source(&tone_file(&gw, TONE_A))
        .command("/dial 1002")
        .quit_after(9)
        .start();
    // Both legs up while the call lasts.
    let up = wait_channels(&gw, "2 total.", Duration::from_secs(10));
    assert!(
        up,
        "the call never had 2 channels up; `show channels`:\n{}\n{}",
        gw.api("show channels"),
        logs(&gw, &[&caller, &callee])
    );
    assert!(
        caller.wait_exit(Duration::from_secs(20)),
        "caller baresip did not quit after -t 9\n{}",
        logs(&gw, &[&caller, &callee])
    );
    let cdr = wait_cdr(&gw, "1001 -> 1002", |l| l.contains(",1001,1002,"));
    let cols: Vec<&str> = cdr.split(',').collect();
    assert_eq!(
        cols.get(6).copied(),
        Some("NORMAL_CLEARING"),
        "A-leg CDR: {cdr}\n{}",
        logs(&gw, &[&caller, &callee])
    );
    assert!(
        wait_channels(&gw, "0 total.", Duration::from_secs(5)),
        "channels left after the hangup: {}",
        gw.api("show channels")
    );

    let fail = || logs(&gw, &[&caller, &callee]);
    // Anchored: each phone gets its RTP from the gateway, not from the other phone.
    for (me, other) in [(&caller, &callee), (&callee, &caller)] {
        let from = me
            .rtp_peer()
            .unwrap_or_else(|| panic!("no \"receiving from\" in a log\n{}", fail()));
        let (lo, hi) = other.rtp_ports();
        assert!(
            !(lo..=hi).contains(&from.port()),
            "RTP came straight from the other phone ({from}), not through the gateway\n{}",
            fail()
        );
    }
    let heard_by_b = recording(&gw, &callee, &[&caller]);
    assert_tone(&heard_by_b, TONE_A, CALL_SECS, "1002 hearing 1001", fail);
    let heard_by_a = recording(&gw, &caller, &[&callee]);
    assert_tone(&heard_by_a, TONE_B, CALL_SECS, "1001 hearing 1002", fail);
}

/// `originate user/1001 &echo()` rings the registered baresip, which answers;
/// the channel is listed, 1001 hears its own tone echoed, uuid_kill ends it.
#[test]
fn originate_to_a_baresip_phone_and_uuid_kill() {
    let gw = gateway();
    let mut phone = Baresip::builder(&gw, "1001", "secret1001")
        .auto_answer()
        .source(&tone_file(&gw, TONE_A))
        .start();
    phone.wait_registered(&gw, Duration::from_secs(15));

    let out = gw.api("originate user/1001 &echo()");
    let uuid = out
        .trim()
        .strip_prefix("+OK ")
        .unwrap_or_else(|| panic!("originate answered {out:?}\n{}", logs(&gw, &[&phone])))
        .trim()
        .to_string();
    assert!(!uuid.is_empty(), "originate: empty uuid in {out:?}");
    let channels = gw.api("show channels");
    assert!(
        channels.contains(&uuid),
        "`show channels` does not list {uuid}:\n{channels}\n{}",
        logs(&gw, &[&phone])
    );
    // Let audio flow through the echo, longer than an RTCP interval (5 s).
    thread::sleep(Duration::from_secs(8));
    let kill = gw.api(&format!("uuid_kill {uuid}"));
    assert!(kill.starts_with("+OK"), "uuid_kill: {kill:?}");
    assert!(
        wait_channels(&gw, "0 total.", Duration::from_secs(5)),
        "channels after uuid_kill: {}\n{}",
        gw.api("show channels"),
        logs(&gw, &[&phone])
    );
    // The phone saw the BYE: its call closed (sndfile closed its files).
    let closed = process::poll_until(Duration::from_secs(5), || {
        phone.log().contains("BYE").then_some(())
    });
    assert!(
        closed.is_some(),
        "baresip never got a BYE\n{}",
        logs(&gw, &[&phone])
    );
    assert!(phone.is_running(), "baresip died\n{}", phone.log());
    let wav = recording(&gw, &phone, &[]);
    assert_tone(
        &wav,
        TONE_A,
        CALL_SECS,
        "1001 hearing its echo (originate)",
        || logs(&gw, &[&phone]),
    );
}

/// 1001 dials the echo extension (answer + echo) and hears its own tone.
#[test]
fn baresip_hears_itself_on_the_echo_extension() {
    let gw = gateway();
    let mut phone = Baresip::builder(&gw, "1001", "secret1001")
        .source(&tone_file(&gw, TONE_A))
        .command("/dial 9196")
        .quit_after(9)
        .start();
    assert!(
        phone.wait_exit(Duration::from_secs(20)),
        "baresip did not quit after -t 9\n{}",
        logs(&gw, &[&phone])
    );
    let cdr = wait_cdr(&gw, "1001 -> 9196", |l| l.contains(",1001,9196,"));
    assert!(cdr.contains("NORMAL_CLEARING"), "{cdr}");
    let wav = recording(&gw, &phone, &[]);
    assert_tone(&wav, TONE_A, CALL_SECS, "1001 hearing the echo", || {
        logs(&gw, &[&phone])
    });
}
