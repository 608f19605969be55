//! The directory: groups, pointers, inheritance, duplicates, default passwords.

use super::tests::{minimal, write};
use super::*;

const VANILLA_STYLE: &str = r#"<include>
  <domain name="$${domain}">
    <params>
      <param name="dial-string" value="{presence_id=${dialed_user}@${dialed_domain}}${sofia_contact(${dialed_user}@${dialed_domain})}"/>
      <param name="jsonrpc-allowed-methods" value="verto"/>
    </params>
    <variables>
      <variable name="record_stereo" value="true"/>
      <variable name="toll_allow" value="local"/>
      <variable name="default_gateway" value="$${default_provider}"/>
    </variables>
    <groups>
      <group name="default">
        <users>
          <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
        </users>
      </group>
      <group name="sales">
        <variables><variable name="callgroup" value="sales"/></variables>
        <users>
          <user id="1001" type="pointer"/>
          <user id="1002" type="pointer"/>
        </users>
      </group>
      <group name="support">
        <users>
          <user id="1001" type="pointer"/>
          <user id="4242" type="pointer"/>
        </users>
      </group>
    </groups>
  </domain>
</include>
"#;

#[test]
fn groups_pointers_and_inheritance_like_freeswitch() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "vars.xml",
        "<include>\n<X-PRE-PROCESS cmd=\"set\" data=\"domain=example.test\"/>\n<X-PRE-PROCESS cmd=\"set\" data=\"port=5099\"/>\n<X-PRE-PROCESS cmd=\"set\" data=\"default_provider=example.com\"/>\n</include>",
    );
    write(dir.path(), "directory/default.xml", VANILLA_STYLE);
    let cfg = load(dir.path()).unwrap();
    let d = &cfg.domains[0];
    assert_eq!(d.users.len(), 2, "pointers are not users");
    assert_eq!(d.variables["default_gateway"], "example.com");
    assert!(
        d.params["dial-string"].contains("${sofia_contact("),
        "channel vars stay"
    );

    let u1 = cfg.find_user("1001", "example.test").unwrap();
    assert_eq!(u1.groups, vec!["default", "sales", "support"]);
    assert_eq!(
        u1.variables["toll_allow"], "international",
        "user overrides domain"
    );
    assert_eq!(
        u1.variables["record_stereo"], "true",
        "domain variable inherited"
    );
    assert!(
        u1.params.contains_key("dial-string"),
        "domain params inherited"
    );
    assert_eq!(u1.params["password"], "s3cret");
    let u2 = cfg.find_user("1002", "example.test").unwrap();
    assert_eq!(u2.groups, vec!["default", "sales"]);
    assert_eq!(u2.variables["toll_allow"], "local");

    // Only the dangling pointer warns, at its own line.
    assert_eq!(cfg.diagnostics.len(), 1, "{:?}", cfg.diagnostics);
    let w = &cfg.diagnostics[0];
    assert!(w.message.contains("user 4242"), "{w}");
    assert_eq!(w.source.line, 28);
    assert!(w.source.file.ends_with("directory/default.xml"));
}

#[test]
fn domain_password_applies_to_users_without_one() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "directory/d.xml",
        "<domain name=\"d.test\"><params><param name=\"password\" value=\"domain-wide-pw\"/></params>\n<groups><group name=\"g\"><users>\n<user id=\"1\"/>\n<user id=\"2\"><params><param name=\"password\" value=\"own-pw\"/><param name=\"a1-hash\" value=\"\"/></params></user>\n</users></group></groups></domain>",
    );
    let cfg = load(dir.path()).unwrap();
    let u1 = cfg.find_user("1", "d.test").unwrap();
    assert_eq!(u1.password.as_deref(), Some("domain-wide-pw"));
    assert_eq!(u1.groups, vec!["g"]);
    let u2 = cfg.find_user("2", "d.test").unwrap();
    assert_eq!(u2.password.as_deref(), Some("own-pw"));
    assert_eq!(u2.a1_hash, None, "empty is unset");
    assert_eq!(u2.source.line, 4);
}

#[test]
fn duplicate_users_across_files_are_errors_naming_both_places() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "directory/second.xml",
        "<include>\n<domain name=\"example.test\">\n<users>\n<user id=\"1001\"/>\n</users>\n</domain>\n</include>",
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(
            "second.xml:4: error: user 1001 is defined twice in domain example.test (first at "
        ),
        "{err}"
    );
    assert!(err.contains("1001.xml:2)"), "{err}");
}

#[test]
fn unknown_directory_elements_and_params_warn_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "directory/default/1003.xml",
        "<include>\n<user id=\"1003\">\n<params>\n<param name=\"vm-enabled\" value=\"true\"/>\n<param name=\"pasword\" value=\"typo\"/>\n</params>\n<gateways/>\n<varaibles/>\n</user>\n</include>",
    );
    let cfg = load(dir.path()).unwrap();
    let got: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("1003.xml:5: warning: unknown directory param \"pasword\""),
        "{got:?}"
    );
    assert!(
        got[1].contains("1003.xml:8: warning: unknown element <varaibles> in <user>"),
        "{got:?}"
    );
    let u = cfg.find_user("1003", "example.test").unwrap();
    assert_eq!(u.params["pasword"], "typo", "kept for later");
    assert!(u.has_default_password());
}

fn user(id: &str, password: Option<&str>) -> User {
    User {
        id: id.into(),
        source: Source {
            file: "u.xml".into(),
            line: 1,
        },
        password: password.map(str::to_string),
        a1_hash: None,
        vm_password: None,
        params: BTreeMap::new(),
        variables: BTreeMap::new(),
        groups: vec!["default".into()],
        cidrs: Vec::new(),
    }
}

#[test]
fn default_passwords_are_recognised() {
    assert!(user("1001", None).has_default_password());
    assert!(user("1001", Some("")).has_default_password());
    assert!(user("1001", Some("1234")).has_default_password());
    assert!(user("1001", Some("1001")).has_default_password());
    assert!(!user("1001", Some("1002")).has_default_password());
    assert!(!user("1001", Some("Xk3!long")).has_default_password());

    let es = |pw: Option<&str>| EventSocketConfig {
        password: pw.map(str::to_string),
        ..EventSocketConfig::defaults(Source {
            file: "e.xml".into(),
            line: 1,
        })
    };
    assert!(es(None).has_default_password());
    assert!(es(Some("")).has_default_password());
    assert!(es(Some("ClueCon")).has_default_password());
    assert!(es(Some("cluecon")).has_default_password());
    assert!(!es(Some("ClueCon2")).has_default_password());
    assert!(!es(Some("s3cret-enough")).has_default_password());
}

#[test]
fn user_context_falls_back_to_default() {
    let mut u = user("1", None);
    assert_eq!(u.user_context(), "default");
    u.variables.insert("user_context".into(), "office".into());
    assert_eq!(u.user_context(), "office");
}

#[test]
fn user_cidrs_from_the_attribute_and_the_users_own_param() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "directory/d.xml",
        "<domain name=\"d.test\">\n<params><param name=\"cidr\" value=\"10.9.9.0/24\"/></params>\n<groups><group name=\"g\"><users>\n<user id=\"1\" cidr=\"192.168.1.20/32, 2001:db8::/48\"/>\n<user id=\"2\"><params><param name=\"cidr\" value=\"10.0.0.0/8,192.168.1.20\"/></params></user>\n<user id=\"3\"/>\n</users></group></groups></domain>",
    );
    let cfg = load(dir.path()).unwrap();
    let cidrs = |id: &str| -> Vec<String> {
        cfg.find_user(id, "d.test")
            .unwrap()
            .cidrs
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(cidrs("1"), ["192.168.1.20/32", "2001:db8::/48"]);
    assert_eq!(cidrs("2"), ["10.0.0.0/8", "192.168.1.20/32"]);
    assert!(
        cidrs("3").is_empty(),
        "a domain-wide cidr param is not every user's network"
    );
    assert!(
        !cfg.diagnostics
            .iter()
            .any(|d| d.message.contains("\"cidr\"")),
        "cidr is a known param: {:?}",
        cfg.diagnostics
    );
}

#[test]
fn a_bad_user_cidr_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "directory/d.xml",
        "<domain name=\"d.test\">\n<users>\n<user id=\"1\" cidr=\"192.168.1.0/24,192.168.300.1\"/>\n<user id=\"2\"><params>\n<param name=\"cidr\" value=\"10.0.0.0/40\"/>\n</params></user>\n</users></domain>",
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(
            "d.xml:3: error: user 1: cidr: \"192.168.300.1\" is not an address or CIDR block"
        ),
        "{err}"
    );
    assert!(
        err.contains("d.xml:5: error: user 2: cidr: \"10.0.0.0/40\" is not an address or CIDR block (an IPv4 prefix is at most /32"),
        "{err}"
    );
    assert!(err.contains("allowed: a comma-separated list"), "{err}");
}
