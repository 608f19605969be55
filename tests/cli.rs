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
