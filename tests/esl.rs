//! The Event Socket from outside: an existing client library (greenswitch,
//! through tests/python/esl_greenswitch.py), the raw wire protocol, and
//! refusing to start with no password or FreeSWITCH's default one.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::esl::EslConn;
use common::{process, Gateway};

fn gateway() -> Gateway {
    Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .start()
}

#[test]
fn greenswitch_client_runs_api_status() {
    process::require("python3", "python3");
    let gw = gateway();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/esl_greenswitch.py");
    assert!(script.is_file(), "missing {}", script.display());
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg("127.0.0.1")
        .arg(gw.esl_port().to_string())
        .arg(gw.esl_password())
        .arg("UP");
    let out = process::run_bounded(&mut cmd, gw.root(), Duration::from_secs(30));
    assert!(
        out.success(),
        "greenswitch `api status` failed (is greenswitch installed? \
         ./scripts/install-test-deps.sh):\n{}\n--- gateway log ---\n{}",
        out.describe(),
        gw.log()
    );
    assert!(
        out.stdout.contains("UP"),
        "status body lacks UP:\n{}",
        out.stdout
    );
}

#[test]
fn wire_protocol_auth_and_api_status() {
    let gw = gateway();

    // Wrong password: -ERR invalid, then the server hangs up.
    let mut c = EslConn::connect(gw.esl_port());
    let greet = c.read_frame().expect("greeting");
    assert_eq!(
        greet.header("Content-Type"),
        Some("auth/request"),
        "{greet:?}"
    );
    let reply = c.auth("wrong");
    assert_eq!(
        reply.header("Reply-Text"),
        Some("-ERR invalid"),
        "{reply:?}"
    );
    let (closed, _) = c.read_raw_until_close();
    assert!(
        closed,
        "server should close the connection after a failed auth"
    );

    // Right password: +OK accepted, then api status with exact framing.
    let mut c = EslConn::connect(gw.esl_port());
    let greet = c.read_frame().expect("greeting");
    assert_eq!(greet.header("Content-Type"), Some("auth/request"));
    let reply = c.auth(&gw.esl_password());
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK accepted"),
        "{reply:?}"
    );
    let resp = c.api("status");
    let len: usize = resp
        .header("Content-Length")
        .expect("api/response has Content-Length")
        .parse()
        .expect("numeric Content-Length");
    assert_eq!(len, resp.body.len(), "Content-Length must match the body");
    let body = resp.body_text();
    assert!(body.contains("UP"), "status body lacks UP:\n{body}");
    // Framing is exact: the next frame starts right after the body.
    let resp2 = c.api("status");
    assert_eq!(resp2.header("Content-Type"), Some("api/response"));

    // Unknown API command: -ERR in the body, connection stays usable.
    let bad = c.api("no_such_command_xyz");
    assert!(
        bad.body_text().starts_with("-ERR"),
        "unknown command: {bad:?}"
    );
    let resp3 = c.api("status");
    assert!(resp3.body_text().contains("UP"));

    // Commands before auth are refused.
    let mut c = EslConn::connect(gw.esl_port());
    let _ = c.read_frame().expect("greeting");
    c.send("api status");
    // Either a -ERR reply or a hang-up is a refusal; the status body is not.
    if let Ok(f) = c.read_frame() {
        let text = format!("{:?} {}", f.headers, f.body_text());
        assert!(
            !f.body_text().contains("UP") && text.contains("-ERR"),
            "api before auth must be refused: {text}"
        );
    }
}

#[test]
fn api_cli_talks_to_the_event_socket() {
    let gw = gateway();
    let status = gw.api("status");
    assert!(status.contains("UP"), "`loopstart api status`:\n{status}");
    let sofia = gw.api("sofia status");
    assert!(
        sofia.contains("internal"),
        "`sofia status` lacks the internal profile:\n{sofia}"
    );
    // Explicit --host/--port/--password work without --conf.
    let port = gw.esl_port().to_string();
    let pass = gw.esl_password();
    let out = gw.cli(&[
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--password",
        &pass,
        "status",
    ]);
    assert!(
        out.success() && out.stdout.contains("UP"),
        "{}",
        out.describe()
    );
    // A wrong password fails with a non-zero exit and says so.
    let out = gw.cli(&[
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--password",
        "nope",
        "status",
    ]);
    assert!(
        !out.success(),
        "wrong ESL password must fail: {}",
        out.describe()
    );
}

fn assert_refuses(builder: common::GatewayBuilder, what: &str) {
    match builder.try_start() {
        Ok(gw) => panic!("gateway started with {what}; log:\n{}", gw.log()),
        Err(e) => {
            let code = e.status.and_then(|s| s.code());
            assert!(
                matches!(code, Some(c) if c != 0),
                "with {what} the process should exit non-zero, got {:?}\n{}",
                e.status,
                e.log
            );
            assert!(
                e.log.to_ascii_lowercase().contains("password"),
                "the error for {what} should mention `password`:\n{}",
                e.log
            );
        }
    }
}

/// No password in event_socket.conf.xml: first boot generates one into the data dir
/// (`secrets/event_socket.password`); nothing opens the socket without that secret.
#[test]
fn no_esl_password_means_a_generated_one() {
    let builder = Gateway::builder()
        .user("1001", "secret1001")
        .no_esl_password();
    let gw = match builder.try_start() {
        Ok(gw) => gw,
        Err(e) => panic!(
            "without a configured password the gateway must start with a generated one; \
             exit {:?}\n{}",
            e.status, e.log
        ),
    };
    // Started: empty and FreeSWITCH-default passwords must not work...
    for guess in ["", "ClueCon"] {
        let mut c = EslConn::connect(gw.esl_port());
        let _ = c.read_frame().expect("greeting");
        c.send(&format!("auth {guess}"));
        if let Ok(f) = c.read_frame() {
            assert_ne!(
                f.header("Reply-Text"),
                Some("+OK accepted"),
                "auth {guess:?} accepted without a configured password"
            );
        }
    }
    // ...and the CLI finds the generated one through --data.
    let conf = gw.conf_dir();
    let data = gw.data_dir();
    let out = gw.cli(&[
        "api",
        "--conf",
        &conf.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "status",
    ]);
    assert!(
        out.success() && out.stdout.contains("UP"),
        "api with the generated password: {}",
        out.describe()
    );
}

#[test]
fn refuses_to_start_with_cluecon() {
    assert_refuses(
        Gateway::builder()
            .user("1001", "secret1001")
            .esl_password("ClueCon"),
        "password ClueCon",
    );
}

/// `apply-inbound-acl` is enforced: a peer outside the list is turned away with
/// FreeSWITCH's rude rejection before any greeting; a peer inside gets `auth/request`.
#[test]
fn apply_inbound_acl_turns_other_addresses_away() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .esl_param("apply-inbound-acl", "127.0.0.2/32")
        .start();

    let mut outsider = EslConn::connect_from("127.0.0.1", gw.esl_port());
    let (closed, bytes) = outsider.read_raw_until_close();
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "the server should hang up on 127.0.0.1: {text}");
    assert!(text.contains("text/rude-rejection"), "{text}");
    assert!(!text.contains("auth/request"), "{text}");

    let mut insider = EslConn::connect_from("127.0.0.2", gw.esl_port());
    let greet = insider.read_frame().expect("greeting for 127.0.0.2");
    assert_eq!(greet.header("Content-Type"), Some("auth/request"));
    let reply = insider.auth("s3cret-esl");
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK accepted"),
        "{reply:?}"
    );
    assert!(
        gw.log().contains("outside apply-inbound-acl"),
        "the refusal is logged for the operator:\n{}",
        gw.log()
    );
}

/// A list name loopstart does not know stops the start (rather than leaving the
/// socket open to everyone), naming the file and line, and `check` says the same.
#[test]
fn unknown_acl_list_is_refused_with_file_and_line() {
    let builder = Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .esl_param("apply-inbound-acl", "office-lan");
    let gw_conf = builder.build();
    let check = gw_conf.cli(&["check", "--conf", &gw_conf.conf_dir().to_string_lossy()]);
    assert!(!check.success(), "check must fail: {}", check.describe());
    assert!(
        check.stderr.contains("event_socket.conf.xml:") && check.stderr.contains("office-lan"),
        "{}",
        check.describe()
    );
    match builder.try_start() {
        Ok(gw) => panic!("started with an unknown ACL list; log:\n{}", gw.log()),
        Err(e) => {
            assert!(
                e.log.contains("event_socket.conf.xml:")
                    && e.log.contains("no ACL list named \"office-lan\"")
                    && e.log.contains("loopback.auto"),
                "{}",
                e.log
            );
        }
    }
}

#[test]
fn reloadacl_swaps_the_lists_and_acl_answers_like_freeswitch() {
    let acl = |cidr: &str| {
        format!("<configuration name=\"acl.conf\"><network-lists><list name=\"lan\" default=\"deny\"><node type=\"allow\" cidr=\"{cidr}\"/></list></network-lists></configuration>\n")
    };
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .file("autoload_configs/acl.conf.xml", &acl("10.0.0.0/8"))
        .start();
    assert_eq!(gw.api("acl 10.1.1.1 lan").trim(), "true");
    assert_eq!(gw.api("acl 192.168.1.1 lan").trim(), "false");
    std::fs::write(
        gw.conf_dir().join("autoload_configs/acl.conf.xml"),
        acl("192.168.0.0/16"),
    )
    .unwrap();
    assert!(gw.api("reloadacl").contains("+OK acl reloaded"));
    assert_eq!(gw.api("acl 10.1.1.1 lan").trim(), "false");
    assert_eq!(gw.api("acl 192.168.1.1 lan").trim(), "true");
}

/// FreeSWITCH's restricted logins: a directory user with `esl-password` logs in with
/// `userauth user@domain:password` and may run only its `esl-allowed-api` commands.
#[test]
fn a_directory_user_with_an_esl_password_gets_only_its_allowed_api() {
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .esl_password("s3cret-esl")
        .file(
            "directory/default/monitor.xml",
            r#"<include>
  <user id="monitor">
    <params>
      <param name="password" value="monitor-sip-pw"/>
      <param name="esl-password" value="m0nitor-esl"/>
      <param name="esl-allowed-api" value="status,show"/>
      <param name="esl-allowed-events" value="CHANNEL_ANSWER"/>
    </params>
  </user>
</include>
"#,
        )
        .start();
    let domain = common::conf::DOMAIN;

    let mut c = EslConn::connect(gw.esl_port());
    c.read_frame().expect("greeting");
    c.send(&format!("userauth monitor@{domain}:m0nitor-esl"));
    let ok = c.read_frame().expect("userauth reply");
    assert_eq!(ok.header("Reply-Text"), Some("+OK accepted"), "{ok:?}");
    assert_eq!(ok.header("Allowed-API"), Some("show,status"), "{ok:?}");
    assert_eq!(
        ok.header("Allowed-Events"),
        Some("CHANNEL_ANSWER"),
        "{ok:?}"
    );
    assert!(c.api("status").body_text().contains("UP"));
    assert!(c.api("show channels count").body_text().contains("total"));
    for denied in [
        "api hupall",
        "api originate user/1001 &echo()",
        "event plain ALL",
    ] {
        c.send(denied);
        let f = c.read_frame().expect("reply");
        assert_eq!(
            f.header("Reply-Text"),
            Some("-ERR permission denied"),
            "{denied}: {f:?}"
        );
    }
    c.send("event plain CHANNEL_ANSWER");
    assert_eq!(
        c.read_frame().expect("reply").header("Reply-Text"),
        Some("+OK event listener enabled plain")
    );

    // The wrong password, or a user without an esl-password, is refused like a bad auth.
    for attempt in [
        format!("monitor@{domain}:wrong"),
        format!("1001@{domain}:secret1001"),
    ] {
        let mut c = EslConn::connect(gw.esl_port());
        c.read_frame().expect("greeting");
        c.send(&format!("userauth {attempt}"));
        let f = c.read_frame().expect("reply");
        assert_eq!(
            f.header("Reply-Text"),
            Some("-ERR invalid"),
            "{attempt}: {f:?}"
        );
    }
}
