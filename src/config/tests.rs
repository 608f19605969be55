use super::*;
use std::fs;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn minimal(dir: &Path) {
    write(dir, "vars.xml", "<include>\n  <X-PRE-PROCESS cmd=\"set\" data=\"domain=example.test\"/>\n  <X-PRE-PROCESS cmd=\"set\" data=\"port=5099\"/>\n</include>\n");
    write(
        dir,
        "sip_profiles/internal.xml",
        "<profile name=\"internal\">\n  <settings>\n    <param name=\"sip-ip\" value=\"127.0.0.1\"/>\n    <param name=\"sip-port\" value=\"$${port}\"/>\n    <param name=\"auth-calls\" value=\"on\"/>\n    <param name=\"accept-blind-reg\" value=\"no\"/>\n  </settings>\n</profile>\n",
    );
    write(
        dir,
        "directory/default.xml",
        "<include>\n<domain name=\"$${domain}\">\n <variables><variable name=\"toll_allow\" value=\"local\"/></variables>\n <groups><group name=\"default\"><users>\n  <X-PRE-PROCESS cmd=\"include\" data=\"default/*.xml\"/>\n </users></group></groups>\n</domain>\n</include>\n",
    );
    write(
        dir,
        "directory/default/1001.xml",
        "<include>\n  <user id=\"1001\">\n    <params><param name=\"password\" value=\"s3cret\"/></params>\n    <variables><variable name=\"toll_allow\" value=\"international\"/></variables>\n  </user>\n</include>\n",
    );
    write(
        dir,
        "directory/default/1002.xml",
        "<include><user id=\"1002\"><params><param name=\"password\" value=\"1234\"/></params></user></include>\n",
    );
}

#[test]
fn loads_with_includes_globs_and_vars() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    let cfg = load(dir.path()).unwrap();
    let p = cfg.profile("internal").unwrap();
    assert_eq!(p.sip_port, 5099);
    assert!(p.auth_calls);
    assert!(!p.accept_blind_reg);
    assert_eq!(cfg.domains[0].name, "example.test");
    let u = cfg.find_user("1001", "example.test").unwrap();
    assert_eq!(u.password.as_deref(), Some("s3cret"));
    assert_eq!(
        u.variables.get("toll_allow").map(String::as_str),
        Some("international")
    );
    assert!(!u.has_default_password());
    assert!(cfg
        .find_user("1002", "example.test")
        .unwrap()
        .has_default_password());
    let u2 = cfg.find_user("1002", "example.test").unwrap();
    assert_eq!(
        u2.variables.get("toll_allow").map(String::as_str),
        Some("local"),
        "inherits domain vars"
    );
    assert_eq!(u2.user_context(), "default");
    assert!(cfg.event_socket.has_default_password());
    let s = cfg.summary();
    assert!(s.contains("127.0.0.1:5099"), "{s}");
    assert!(s.contains("2 users"), "{s}");
}

#[test]
fn unknown_param_warns_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "sip_profiles/internal.xml",
        "<profile name=\"internal\">\n  <settings>\n    <param name=\"sip-port\" value=\"5099\"/>\n    <param name=\"frobnicate\" value=\"1\"/>\n  </settings>\n</profile>\n",
    );
    let cfg = load(dir.path()).unwrap();
    let d = cfg
        .diagnostics
        .iter()
        .find(|d| d.message.contains("frobnicate"))
        .expect("a warning");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.source.line, 4);
    assert!(d.source.file.ends_with("sip_profiles/internal.xml"));
}

#[test]
fn bad_value_is_an_error_with_file_line_and_allowed() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "sip_profiles/internal.xml",
        "<profile name=\"internal\">\n  <settings>\n    <param name=\"sip-port\" value=\"50x0\"/>\n    <param name=\"auth-calls\" value=\"maybe\"/>\n  </settings>\n</profile>\n",
    );
    let err = load(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("internal.xml:3: error: param \"sip-port\" value \"50x0\" is not a port; allowed: 1-65535"), "{text}");
    assert!(text.contains("internal.xml:4: error"), "{text}");
}

#[test]
fn errors_in_included_files_point_at_the_included_file() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "directory/default/1003.xml",
        "<include>\n\n  <user>\n  </user>\n</include>\n",
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("1003.xml:3: error"), "{err}");
}

#[test]
fn undefined_variable_and_broken_xml() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "autoload_configs/switch.conf.xml",
        "<configuration name=\"switch.conf\">\n<settings>\n<param name=\"max-sessions\" value=\"$${nope}12\"/>\n</settings>\n</configuration>\n",
    );
    let cfg = load(dir.path()).unwrap();
    assert_eq!(cfg.switch.max_sessions, 12);
    assert!(cfg
        .diagnostics
        .iter()
        .any(|d| d.message.contains("$${nope}") && d.source.line == 3));
    write(
        dir.path(),
        "autoload_configs/event_socket.conf.xml",
        "<configuration name=\"event_socket.conf\">\n<settings>\n",
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("event_socket.conf.xml"), "{err}");
    assert!(err.contains("not well-formed"), "{err}");
}

#[test]
fn booleans_take_freeswitch_words() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    for (word, want) in [
        ("yes", true),
        ("off", false),
        ("1", true),
        ("disabled", false),
        ("TRUE", true),
    ] {
        write(
            dir.path(),
            "sip_profiles/internal.xml",
            &format!("<profile name=\"internal\"><settings><param name=\"sip-port\" value=\"5099\"/><param name=\"auth-calls\" value=\"{word}\"/></settings></profile>"),
        );
        assert_eq!(
            load(dir.path()).unwrap().profiles[0].auth_calls,
            want,
            "{word}"
        );
    }
}

#[test]
fn event_socket_defaults_and_clue_con() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "autoload_configs/event_socket.conf.xml",
        "<configuration name=\"event_socket.conf\"><settings><param name=\"listen-port\" value=\"8099\"/><param name=\"password\" value=\"ClueCon\"/></settings></configuration>",
    );
    let cfg = load(dir.path()).unwrap();
    assert_eq!(cfg.event_socket.listen_port, 8099);
    assert!(cfg.event_socket.has_default_password());
}

#[test]
fn factory_config_loads_cleanly() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let cfg = load(&conf).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.diagnostics.is_empty(), "{:?}", cfg.diagnostics);
    let p = cfg.profile("internal").unwrap();
    assert_eq!(p.sip_port, 5060);
    assert_eq!(p.context, "default");
    assert_eq!(
        p.auth_algorithms,
        vec![DigestAlgorithm::Md5, DigestAlgorithm::Sha256]
    );
    let users = &cfg.domains[0].users;
    assert_eq!(users.len(), 10);
    assert!(
        users.iter().all(|u| u.has_default_password()),
        "no factory password may work"
    );
    assert!(cfg.event_socket.password.is_none());
}
