//! The command line: help, `check` (errors and warnings with file:line),
//! the factory config, and first-boot password generation.

mod common;

use std::process::Command;
use std::time::Duration;

use common::conf::{self, line_of};
use common::{bin, process, Gateway};

fn run(args: &[&str]) -> process::Outcome {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1").args(args);
    process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(20))
}

#[test]
fn help_lists_subcommands() {
    let out = run(&["--help"]);
    assert!(out.success(), "{}", out.describe());
    for sub in ["run", "check", "api"] {
        assert!(
            out.stdout.contains(sub),
            "--help should mention `{sub}`:\n{}",
            out.stdout
        );
    }
    let out = run(&["run", "--help"]);
    assert!(out.success(), "{}", out.describe());
    for opt in ["--conf", "--data"] {
        assert!(
            out.stdout.contains(opt),
            "run --help should mention {opt}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn unknown_subcommand_fails() {
    let out = run(&["frobnicate"]);
    assert!(!out.success(), "{}", out.describe());
}

#[test]
fn check_accepts_a_good_conf_and_names_the_port() {
    let gw = Gateway::builder().user("1001", "secret1001").build();
    let conf = gw.conf_dir();
    let out = gw.cli(&["check", "--conf", &conf.to_string_lossy()]);
    assert!(out.success(), "check on a good conf:\n{}", out.describe());
    let port = gw.sip_port().to_string();
    assert!(
        out.all().contains(&port),
        "summary should mention SIP port {port}:\n{}",
        out.describe()
    );
}

#[test]
fn check_reports_a_bad_value_with_file_and_line() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .profile_param("sip-port", "50x0")
        .build();
    let conf = gw.conf_dir();
    let file = conf.join("sip_profiles/internal.xml");
    let line = line_of(&file, "50x0");
    let out = gw.cli(&["check", "--conf", &conf.to_string_lossy()]);
    assert_eq!(
        out.code(),
        Some(1),
        "check must exit 1 on a bad value:\n{}",
        out.describe()
    );
    let want = format!("internal.xml:{line}");
    let all = out.all();
    let hit = all.lines().find(|l| l.contains(&want));
    let hit = hit.unwrap_or_else(|| panic!("no line naming {want}:\n{}", out.describe()));
    assert!(hit.contains("error"), "the line should say error: {hit}");
    assert!(
        hit.contains("sip-port") || hit.contains("50x0"),
        "the line should name the param or value: {hit}"
    );
}

#[test]
fn check_warns_about_an_unknown_param_but_passes() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .profile_param("frobnicate-level", "11")
        .build();
    let conf = gw.conf_dir();
    let line = line_of(&conf.join("sip_profiles/internal.xml"), "frobnicate-level");
    let out = gw.cli(&["check", "--conf", &conf.to_string_lossy()]);
    assert!(
        out.success(),
        "unknown param is only a warning:\n{}",
        out.describe()
    );
    let want = format!("internal.xml:{line}");
    let all = out.all();
    let hit = all
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no warning naming {want}:\n{}", out.describe()));
    assert!(
        hit.to_ascii_lowercase().contains("warn"),
        "should be a warning: {hit}"
    );
}

#[test]
fn check_accepts_the_factory_conf() {
    let dir = conf::factory_conf_dir();
    assert!(
        dir.join("vars.xml").is_file(),
        "factory conf missing at {}",
        dir.display()
    );
    let out = run(&["check", "--conf", &dir.to_string_lossy()]);
    assert!(
        out.success(),
        "factory conf must pass check:\n{}",
        out.describe()
    );
}

#[test]
fn first_boot_generates_passwords_that_work() {
    let mut gw = Gateway::builder()
        .user_without_password("1001")
        .user_without_password("1002")
        .start();
    // Read the passwords with the gateway stopped: the store may be locked
    // by the running process.
    let status = gw.stop();
    assert!(status.success(), "clean stop: {status}\n{}", gw.log());
    let p1 = gw.user_password("1001");
    let p2 = gw.user_password("1002");
    assert!(p1.len() >= 16, "generated password too short: {p1:?}");
    assert_ne!(p1, p2, "each user gets their own password");
    gw.start_again();
    gw.sipp("register.xml")
        .user("1001", &p1)
        .run()
        .assert_ok("register 1001 with the generated password", &gw.all_logs());
    assert_eq!(gw.registrations_of("1001").len(), 1);
    gw.sipp("register_forbidden.xml")
        .user("1002", "1234")
        .run()
        .assert_ok("FreeSWITCH's default 1234 is not accepted", &gw.log());
    // Stable across restarts.
    let status = gw.stop();
    assert!(status.success(), "clean stop: {status}\n{}", gw.log());
    assert_eq!(
        gw.user_password("1001"),
        p1,
        "password changed across restart"
    );
}

fn reference_board() -> String {
    let path = common::repo().join("board/ref-2fxs-1fxo/board.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn check_prints_the_board_and_run_reports_its_voice_devices() {
    let builder = Gateway::builder()
        .user("1001", "secret1001")
        .file("board.toml", &reference_board());
    let gw = builder.build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert!(out.success(), "{}", out.describe());
    for want in [
        "board ref-2fxs-1fxo",
        "line card: /dev/ttyS1 at 460800 baud",
        "port fxs1 (FXS, line 0): voice hw:0,0 channel 0 of 4",
        "port fxo1 (FXO, line 2): voice hw:0,0 channel 2 of 4",
        "led port fxo1: gpio gpiochip0:16 (active low)",
        "reset button: gpio gpiochip1:3 (active low), held 10 s = factory reset",
    ] {
        assert!(
            out.stdout.contains(want),
            "missing {want:?}:\n{}",
            out.describe()
        );
    }
    // This host has no such codec: the gateway still starts, and says what is wrong.
    let gw = builder.start();
    let log = gw.log();
    assert!(
        log.contains("board ref-2fxs-1fxo: 3 analog port(s)"),
        "{log}"
    );
    assert!(
        log.contains("voice for fxs1, fxs2, fxo1: ALSA hw:0,0 unusable"),
        "{log}"
    );
}

#[test]
fn a_broken_board_file_stops_check_and_run_with_file_and_line() {
    let board = reference_board().replace("alsa-channel = 2", "alsa-channel = 1");
    let line = board
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "alsa-channel = 1")
        .nth(1)
        .map(|(i, _)| i + 1)
        .expect("two ports on channel 1");
    let builder = Gateway::builder()
        .user("1001", "secret1001")
        .file("board.toml", &board);
    let gw = builder.build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let want =
        format!("board.toml:{line}: error: port fxo1: hw:0,0 channel 1 already carries port fxs2");
    assert!(
        out.stderr.contains(&want),
        "want {want:?}:\n{}",
        out.describe()
    );
    match builder.try_start() {
        Ok(gw) => panic!("started with a broken board.toml; log:\n{}", gw.log()),
        Err(e) => assert!(e.log.contains(&want), "{}", e.log),
    }
}

#[test]
fn check_lists_the_dialplan_and_refuses_a_broken_expression_with_file_and_line() {
    let good = "<include>\n  <context name=\"default\">\n    <extension name=\"echo\">\n      \
                <condition field=\"destination_number\" expression=\"^9196$\">\n        \
                <action application=\"echo\"/>\n      </condition>\n    </extension>\n  \
                </context>\n</include>\n";
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", good)
        .build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("dialplan: default (1 extensions)"),
        "{}",
        out.describe()
    );

    let broken = good.replace("^9196$", "^(9196$");
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", &broken)
        .build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("dialplan/default.xml:4: error: expression \"^(9196$\" is not a valid regular expression"),
        "{}",
        out.describe()
    );
}

/// Lists from acl.conf.xml are printed by `check` and can be named by
/// apply-inbound-acl; a bad node stops check at its file and line.
#[test]
fn check_prints_acl_lists_and_accepts_them_by_name() {
    let acl = "<configuration name=\"acl.conf\">\n  <network-lists>\n    \
               <list name=\"office-lan\" default=\"deny\">\n      \
               <node type=\"allow\" cidr=\"192.168.42.0/24\"/>\n    </list>\n  \
               </network-lists>\n</configuration>\n";
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .esl_param("apply-inbound-acl", "office-lan")
        .file("autoload_configs/acl.conf.xml", acl)
        .build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout
            .contains("acl office-lan: default deny; allow 192.168.42.0/24"),
        "{}",
        out.describe()
    );

    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file(
            "autoload_configs/acl.conf.xml",
            &acl.replace("192.168.42.0/24", "192.168.420.0/24"),
        )
        .build();
    let out = gw.cli(&["check", "--conf", &gw.conf_dir().to_string_lossy()]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "autoload_configs/acl.conf.xml:4: error: list office-lan: node cidr: \"192.168.420.0/24\""
        ),
        "{}",
        out.describe()
    );
}
