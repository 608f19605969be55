//! Loading whole trees: includes, expansion, diagnostics, defaults, the factory conf/.

use super::*;
use std::fs;

pub(super) fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// A small valid tree: vars, one profile on 127.0.0.1:$${port}, domain example.test
/// with users 1001 (own password, international) and 1002 (password 1234).
pub(super) fn minimal(dir: &Path) {
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
fn conf_dir_is_absolute_so_files_named_from_it_resolve_with_a_relative_conf() {
    // `loopstart run --conf conf`, as the README says: the factory blacklist names
    // `$${conf_dir}/blacklists/blocked.list`, which once became conf/conf/blacklists.
    let cwd = std::env::current_dir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(cwd, manifest, "cargo runs unit tests in the package root");
    let cfg = load(Path::new("conf")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Path::new(&cfg.vars["conf_dir"]),
        manifest.join("conf").canonicalize().unwrap()
    );
    let list = &cfg.blacklist.lists[0].filename;
    assert!(list.is_file(), "{}", list.display());
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
    assert_eq!(cfg.event_socket.listen_port, 8021);
    assert_eq!(cfg.event_socket.listen_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(p.auth_calls && !p.accept_blind_reg);
    assert_eq!(p.nonce_ttl, 60);
    assert_eq!(p.sip_ip.to_string(), cfg.vars["local_ip_v4"]);
    assert_eq!(p.ext_sip_ip, None, "ext-* ship commented out");
    assert_eq!(cfg.domains[0].name, cfg.vars["local_ip_v4"]);
    assert_eq!(cfg.vars["default_password"], "");
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010"]
    );
    for u in users {
        // Domestic calls work out of the box; international is granted per extension.
        assert_eq!(u.variables["toll_allow"], "local,domestic");
        assert_eq!(u.variables["accountcode"], u.id);
        assert_eq!(u.user_context(), "default");
        assert_eq!(
            u.variables["effective_caller_id_name"],
            format!("Extension {}", u.id)
        );
        assert_eq!(u.variables["effective_caller_id_number"], u.id);
        assert!(u.variables.contains_key("callgroup"));
    }
    assert_eq!(cfg.switch.store_cache_mb, 16);
}

#[test]
fn nested_includes_keep_their_own_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    // default.xml includes default/*.xml; 1003.xml includes more/extra.xml relative to
    // itself, which holds an unknown param on its line 4.
    write(
        dir.path(),
        "directory/default/1003.xml",
        "<include>\n  <X-PRE-PROCESS cmd=\"include\" data=\"more/extra.xml\"/>\n</include>\n",
    );
    write(
        dir.path(),
        "directory/default/more/extra.xml",
        "<include>\n<user id=\"1003\">\n <params>\n  <param name=\"frob\" value=\"1\"/>\n  <param name=\"password\" value=\"$${domain}-x\"/>\n </params>\n</user>\n</include>\n",
    );
    let cfg = load(dir.path()).unwrap();
    let u = cfg.find_user("1003", "example.test").unwrap();
    assert_eq!(u.password.as_deref(), Some("example.test-x"));
    assert_eq!(u.source.line, 2);
    assert!(u.source.file.ends_with("directory/default/more/extra.xml"));
    let w = cfg
        .diagnostics
        .iter()
        .find(|d| d.message.contains("frob"))
        .unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.to_string().contains("more/extra.xml:4: warning"), "{w}");
}

#[test]
fn defaults_when_params_and_files_are_absent() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sip_profiles/p.xml",
        "<profile name=\"bare\"><settings/></profile>",
    );
    write(
        dir.path(),
        "directory/d.xml",
        "<domain name=\"$${domain}\"><users><user id=\"alice\"/></users></domain>",
    );
    let cfg = load(dir.path()).unwrap();
    assert!(cfg.diagnostics.is_empty(), "{:?}", cfg.diagnostics);
    let local: IpAddr = cfg.vars["local_ip_v4"].parse().unwrap();
    assert_eq!(
        cfg.vars["domain"], cfg.vars["local_ip_v4"],
        "domain defaults to local_ip_v4"
    );
    assert!(!cfg.vars["hostname"].is_empty());
    let p = cfg.profile("bare").unwrap();
    assert_eq!((p.sip_ip, p.sip_port, p.rtp_ip), (local, 5060, local));
    assert_eq!((p.context.as_str(), p.dialplan.as_str()), ("public", "XML"));
    assert!(p.auth_calls && !p.accept_blind_reg && !p.accept_blind_auth);
    assert!(p.udp && p.tcp);
    assert_eq!(
        (p.nonce_ttl, p.min_expires, p.max_expires, p.default_expires),
        (60, 60, 3600, 3600)
    );
    assert_eq!(p.max_registrations_per_extension, 10);
    assert_eq!(p.auth_algorithms, vec![DigestAlgorithm::Md5]);
    assert_eq!(p.user_agent, "loopstart");
    assert_eq!(p.codec_prefs, vec!["PCMU", "PCMA"]);
    assert_eq!((p.realm.as_deref(), p.ext_sip_ip.as_deref()), (None, None));
    let sw = &cfg.switch;
    assert_eq!(
        (sw.max_sessions, sw.store_cache_mb, sw.sip_max_message_bytes),
        (1000, 16, 65_535)
    );
    assert_eq!((sw.sip_max_headers, sw.sip_max_line_bytes), (128, 8192));
    let es = &cfg.event_socket;
    assert_eq!(es.listen_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(es.listen_port, 8021);
    assert!(es.password.is_none() && es.has_default_password());
    let u = cfg.find_user("alice", &cfg.vars["domain"]).unwrap();
    assert_eq!(u.user_context(), "default");
    assert!(u.password.is_none() && u.has_default_password());
    assert_eq!(u.groups, vec!["default"]);
    assert!(cfg.find_user("alice", "elsewhere").is_none());
    assert!(cfg.profile("internal").is_none());
}

#[test]
fn profile_params_are_typed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "sip_profiles/internal.xml",
        r#"<profile name="internal"><settings>
<param name="sip-ip" value="0.0.0.0"/>
<param name="ext-sip-ip" value="stun:stun.example.net"/>
<param name="ext-rtp-ip" value="auto-nat"/>
<param name="challenge-realm" value="auto_from"/>
<param name="force-register-domain" value="$${domain}"/>
<param name="enable-tcp" value="false"/>
<param name="auth-algorithms" value="sha-256, MD5, SHA-256"/>
<param name="inbound-codec-prefs" value="G722,PCMU"/>
<param name="outbound-codec-prefs" value="PCMA"/>
<param name="apply-register-acl" value="lan"/>
<param name="apply-register-acl" value="vpn"/>
<param name="max-registrations-per-extension" value="0"/>
<param name="rtp-timeout-sec" value="0"/>
<param name="hold-music" value="local_stream://moh"/>
</settings></profile>"#,
    );
    let cfg = load(dir.path()).unwrap();
    assert!(cfg.diagnostics.is_empty(), "{:?}", cfg.diagnostics);
    let p = cfg.profile("internal").unwrap();
    assert!(p.sip_ip.is_unspecified());
    assert_eq!(p.ext_sip_ip.as_deref(), Some("stun:stun.example.net"));
    assert_eq!(p.ext_rtp_ip.as_deref(), Some("auto-nat"));
    assert_eq!(p.realm.as_deref(), Some("auto_from"));
    assert_eq!(p.force_register_domain.as_deref(), Some("example.test"));
    assert!(p.udp && !p.tcp);
    assert_eq!(
        p.auth_algorithms,
        vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    );
    assert_eq!(p.codec_prefs, vec!["G722", "PCMU"], "inbound wins");
    assert_eq!(p.apply_register_acl, vec!["lan", "vpn"]);
    assert_eq!(p.max_registrations_per_extension, 0);
    assert_eq!(p.rtp_timeout_sec, 0);
    assert_eq!(p.params["hold-music"], "local_stream://moh");
    assert_eq!(p.params["force-register-domain"], "example.test");
}

#[test]
fn every_bad_value_is_reported_with_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "sip_profiles/internal.xml",
        r#"<profile name="internal"><settings>
<param name="sip-ip" value="192.168.1.300"/>
<param name="ext-sip-ip" value="somewhere"/>
<param name="nonce-ttl" value="0"/>
<param name="auth-algorithms" value="MD5,SHA-512"/>
<param name="enable-udp" value="nope"/>
</settings></profile>"#,
    );
    write(
        dir.path(),
        "autoload_configs/switch.conf.xml",
        "<configuration name=\"switch.conf\"><settings>\n<param name=\"store-cache-mb\" value=\"0\"/>\n</settings></configuration>",
    );
    write(
        dir.path(),
        "autoload_configs/event_socket.conf.xml",
        "<configuration name=\"event_socket.conf\"><settings>\n\n<param name=\"listen-port\" value=\"80210\"/>\n</settings></configuration>",
    );
    let err = load(dir.path()).unwrap_err();
    let text = err.to_string();
    let errors: Vec<&Diagnostic> = err
        .0
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 7, "{text}");
    for want in [
        "internal.xml:2: error: param \"sip-ip\" value \"192.168.1.300\" is not an IP address; allowed:",
        "internal.xml:3: error: param \"ext-sip-ip\" value \"somewhere\" is not an external address; allowed: an IP address, auto, auto-nat, stun:HOST, host:NAME",
        "internal.xml:4: error: param \"nonce-ttl\" value \"0\" is not in range; allowed: 1-86400 (seconds)",
        "internal.xml:5: error: param \"auth-algorithms\" value \"MD5,SHA-512\" has unknown algorithm \"SHA-512\"",
        "internal.xml:6: error: param \"enable-udp\" value \"nope\" is not a boolean",
        "switch.conf.xml:2: error: param \"store-cache-mb\" value \"0\" is not in range; allowed: 1-4096 (MiB)",
        "event_socket.conf.xml:3: error: param \"listen-port\" value \"80210\" is not a port; allowed: 1-65535",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(text.lines().count(), err.0.len(), "one diagnostic per line");
}

#[test]
fn two_profiles_on_one_port_clash() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "sip_profiles/other.xml",
        "<profile name=\"other\"><settings>\n<param name=\"sip-ip\" value=\"0.0.0.0\"/>\n<param name=\"sip-port\" value=\"5099\"/></settings></profile>",
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("already used by profile internal"), "{err}");
}

#[test]
fn summary_is_short_and_names_ports_users_and_password_state() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    for id in 1003..=1010 {
        write(
            dir.path(),
            &format!("directory/default/{id}.xml"),
            &format!("<include><user id=\"{id}\"/></include>"),
        );
    }
    write(
        dir.path(),
        "directory/default/alice.xml",
        "<include><user id=\"alice\"/></include>",
    );
    write(
        dir.path(),
        "autoload_configs/event_socket.conf.xml",
        "<configuration name=\"event_socket.conf\"><settings><param name=\"password\" value=\"long-secret\"/><param name=\"frob\" value=\"1\"/></settings></configuration>",
    );
    let cfg = load(dir.path()).unwrap();
    let s = cfg.summary();
    assert!(
        s.contains(
            "profile internal: sip 127.0.0.1:5099 (udp, tcp), context public, auth-calls true"
        ),
        "{s}"
    );
    assert!(
        s.contains("domain example.test: 11 users (1001-1010, alice)"),
        "{s}"
    );
    assert!(
        s.contains("event socket: 127.0.0.1:8021, password set"),
        "{s}"
    );
    assert!(s.contains("1 warning\n"), "{s}");
    assert!(
        s.contains("fail2ban: ban after 5 failures in 600 s for 3600 s"),
        "{s}"
    );
    assert!(
        s.contains("web: https://0.0.0.0:8443/ (password generated at first start"),
        "{s}"
    );
    assert!(s.lines().count() <= 10, "{s}");
}

#[test]
fn id_ranges_collapse_runs_only() {
    assert_eq!(
        id_ranges(["1003", "1001", "1002", "1005", "bob", "007", "1007", "1006"].into_iter()),
        "1001-1003, 1005-1007, 007, bob"
    );
    assert_eq!(id_ranges(std::iter::empty()), "");
}

#[test]
fn missing_conf_dir_is_an_error() {
    let err = load(Path::new("/nonexistent/loopstart-conf")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err
        .to_string()
        .contains("configuration directory not found"));
}
