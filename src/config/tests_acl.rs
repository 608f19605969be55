//! acl.conf.xml: lists, nodes, domain nodes, and what is refused or warned about.

use super::acl::{AclConfig, NodeTarget};
use super::tests::{minimal, write};
use super::*;
use crate::cidr::Cidr;

fn acl_conf(dir: &Path, lists: &str) {
    write(
        dir,
        "autoload_configs/acl.conf.xml",
        &format!(
            "<configuration name=\"acl.conf\" description=\"Network Lists\">\n<network-lists>\n{lists}</network-lists>\n</configuration>\n"
        ),
    );
}

/// The minimal tree plus acl.conf with `lists`; the load's result.
fn load_with(lists: &str) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    acl_conf(dir.path(), lists);
    load(dir.path())
}

fn errors(lists: &str) -> String {
    match load_with(lists) {
        Ok(cfg) => panic!("loaded: {:?}", cfg.acl),
        Err(e) => e.to_string(),
    }
}

fn warnings(cfg: &Config) -> Vec<String> {
    cfg.diagnostics.iter().map(ToString::to_string).collect()
}

fn cidr(s: &str) -> NodeTarget {
    NodeTarget::Cidr(Cidr::parse(s).unwrap())
}

#[test]
fn lists_and_nodes_with_their_lines() {
    let cfg = load_with(
        "<list name=\"lan\" default=\"allow\">\n\
         <node type=\"deny\" cidr=\"192.168.42.0/24\"/>\n\
         <node type=\"ALLOW\" cidr=\"192.168.42.42/32, 2001:db8::/32\"/>\n\
         <node type=\"deny\" host=\"10.1.2.3\" mask=\"255.255.0.0\"/>\n\
         </list>\n\
         <list name=\"domains\" default=\"deny\">\n\
         <node type=\"allow\" domain=\"$${domain}\"/>\n\
         </list>\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.diagnostics.is_empty(), "{:?}", warnings(&cfg));
    let lan = cfg.acl.list("LAN").expect("names are case-insensitive");
    assert_eq!(lan.name, "lan");
    assert!(lan.default_allow);
    assert_eq!(lan.source.line, 3);
    assert!(lan.source.file.ends_with("autoload_configs/acl.conf.xml"));
    let got: Vec<(bool, NodeTarget, u32)> = lan
        .nodes
        .iter()
        .map(|n| (n.allow, n.what.clone(), n.source.line))
        .collect();
    assert_eq!(
        got,
        vec![
            (false, cidr("192.168.42.0/24"), 4),
            (true, cidr("192.168.42.42/32"), 5),
            (true, cidr("2001:db8::/32"), 5),
            (false, cidr("10.1.0.0/16"), 6),
        ]
    );
    let domains = cfg.acl.list("domains").unwrap();
    assert!(!domains.default_allow);
    assert_eq!(
        domains.nodes[0].what,
        NodeTarget::Domain("example.test".into()),
        "$${{domain}} expanded"
    );
    assert!(domains.nodes[0].allow);
}

#[test]
fn no_acl_conf_means_no_lists() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    let cfg = load(dir.path()).unwrap();
    assert_eq!(cfg.acl, AclConfig::default());
    assert!(cfg.diagnostics.is_empty(), "{:?}", warnings(&cfg));
    assert!(cfg.summary().contains("acl: built-in lists only"));
}

#[test]
fn bad_default_type_and_blocks_are_errors_saying_what_is_allowed() {
    let e = errors("<list name=\"lan\" default=\"permit\">\n</list>\n");
    assert!(
        e.contains("acl.conf.xml:3: error: list lan: default=\"permit\"; allowed: allow or deny"),
        "{e}"
    );
    let e = errors(
        "<list name=\"lan\" default=\"deny\">\n<node type=\"alow\" cidr=\"10.0.0.0/8\"/>\n</list>\n",
    );
    assert!(
        e.contains("acl.conf.xml:4: error: list lan: node type=\"alow\"; allowed: allow or deny"),
        "{e}"
    );
    let e = errors(
        "<list name=\"lan\" default=\"deny\">\n<node type=\"allow\" cidr=\"10.0.0.0/8,192.168.1.0/33\"/>\n</list>\n",
    );
    assert!(
        e.contains("acl.conf.xml:4: error: list lan: node cidr: \"192.168.1.0/33\" is not an address or CIDR block (an IPv4 prefix is at most /32"),
        "{e}"
    );
    assert!(e.contains("allowed: addresses or CIDR blocks"), "{e}");
    let e =
        errors("<list name=\"lan\" default=\"deny\">\n<node type=\"allow\" cidr=\"\"/>\n</list>\n");
    assert!(
        e.contains("acl.conf.xml:4: error: list lan: node cidr=\"\" is empty"),
        "{e}"
    );
    let e = errors("<list default=\"deny\"/>\n");
    assert!(
        e.contains("acl.conf.xml:3: error: <list> needs a name"),
        "{e}"
    );
}

#[test]
fn host_and_mask_must_both_be_there_and_valid() {
    let one = |node: &str| {
        errors(&format!(
            "<list name=\"l\" default=\"deny\">\n{node}\n</list>\n"
        ))
    };
    let e = one("<node type=\"allow\" host=\"10.0.0.0\"/>");
    assert!(
        e.contains("acl.conf.xml:4: error: list l: a node with host= needs mask= too"),
        "{e}"
    );
    let e = one("<node type=\"allow\" host=\"10.0.0.0\" mask=\"255.0.255.0\"/>");
    assert!(
        e.contains("node mask=\"255.0.255.0\" is not a netmask"),
        "{e}"
    );
    let e = one("<node type=\"allow\" host=\"2001:db8::\" mask=\"255.0.0.0\"/>");
    assert!(
        e.contains("node host=\"2001:db8::\" is not an IPv4 address"),
        "{e}"
    );
    let e = one("<node type=\"allow\"/>");
    assert!(
        e.contains(
            "acl.conf.xml:4: error: list l: <node> needs cidr=, domain=, or host= with mask="
        ),
        "{e}"
    );
    let e = one("<node type=\"allow\" domain=\"\"/>");
    assert!(e.contains("node domain=\"\" is empty"), "{e}");
}

#[test]
fn built_in_names_and_twice_defined_lists_are_errors() {
    let e = errors("<list name=\"LocalNet.auto\" default=\"allow\"/>\n");
    assert!(
        e.contains("acl.conf.xml:3: error: list \"LocalNet.auto\" has the name of a built-in list (loopback.auto, localnet.auto,"),
        "{e}"
    );
    let e =
        errors("<list name=\"lan\" default=\"allow\"/>\n<list name=\"Lan\" default=\"deny\"/>\n");
    assert!(
        e.contains("acl.conf.xml:4: error: list \"Lan\" is defined twice (first at "),
        "{e}"
    );
    assert!(e.contains("acl.conf.xml:3)"), "{e}");
}

#[test]
fn unknown_elements_and_attributes_warn_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "autoload_configs/acl.conf.xml",
        "<configuration name=\"acl.conf\">\n<settings/>\n<network-lists>\n<lists/>\n<list name=\"l\" default=\"deny\" colour=\"red\">\n<nod type=\"allow\" cidr=\"10.0.0.0/8\"/>\n<node type=\"allow\" cidr=\"10.0.0.0/8\" comment=\"office\"/>\n</list>\n</network-lists>\n</configuration>\n",
    );
    let cfg = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let w = warnings(&cfg);
    let expect = [
        "acl.conf.xml:2: warning: unknown element <settings> in acl.conf (ignored; expected <network-lists>)",
        "acl.conf.xml:4: warning: unknown element <lists> in <network-lists> (ignored; expected <list>)",
        "acl.conf.xml:5: warning: unknown attribute \"colour\" on <list> (ignored; known: name, default)",
        "acl.conf.xml:6: warning: unknown element <nod> in list l (ignored; expected <node>)",
        "acl.conf.xml:7: warning: unknown attribute \"comment\" on <node> (ignored; known: type, cidr,",
    ];
    assert_eq!(w.len(), expect.len(), "{w:?}");
    for (got, want) in w.iter().zip(expect) {
        assert!(got.contains(want), "{got}\n  wanted: {want}");
    }
    assert_eq!(cfg.acl.lists[0].nodes.len(), 1, "the known node is kept");
}

#[test]
fn missing_default_and_type_follow_freeswitch_with_a_warning() {
    let cfg = load_with(
        "<list name=\"l\">\n<node cidr=\"10.0.0.0/8\"/>\n</list>\n<list name=\"m\" default=\"deny\">\n<node cidr=\"10.0.0.0/8\"/>\n</list>\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let l = cfg.acl.list("l").unwrap();
    assert!(l.default_allow, "FreeSWITCH: no default is allow");
    assert!(l.nodes[0].allow, "a node without type takes the default");
    let m = cfg.acl.list("m").unwrap();
    assert!(!m.nodes[0].allow);
    let w = warnings(&cfg);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].contains("acl.conf.xml:3: warning: list l has no default"),
        "{w:?}"
    );
    assert!(
        w[1].contains(
            "acl.conf.xml:4: warning: list l: node without type takes the list's default (allow)"
        ),
        "{w:?}"
    );
    assert!(
        w[2].contains(
            "acl.conf.xml:7: warning: list m: node without type takes the list's default (deny)"
        ),
        "{w:?}"
    );
}

#[test]
fn port_restrictions_fail_closed() {
    let cfg = load_with(
        "<list name=\"l\" default=\"deny\">\n\
         <node type=\"allow\" cidr=\"10.0.0.0/8\" port=\"5060\"/>\n\
         <node type=\"deny\" cidr=\"10.1.0.0/16\" port-min=\"5060\" port-max=\"5080\"/>\n\
         <node type=\"allow\" cidr=\"10.2.0.0/16\"/>\n\
         </list>\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let nodes: Vec<(bool, NodeTarget)> = cfg.acl.lists[0]
        .nodes
        .iter()
        .map(|n| (n.allow, n.what.clone()))
        .collect();
    assert_eq!(
        nodes,
        vec![(false, cidr("10.1.0.0/16")), (true, cidr("10.2.0.0/16"))],
        "the allow node with a port is left out, the deny node kept"
    );
    let w = warnings(&cfg);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains(":4: warning: list l: port restrictions") && w[0].contains("left out"),
        "{w:?}"
    );
    assert!(
        w[1].contains(":5: warning: list l: port restrictions") && w[1].contains("every port"),
        "{w:?}"
    );
}

#[test]
fn domain_nodes_take_precedence_and_unknown_domains_warn() {
    let cfg = load_with(
        "<list name=\"l\" default=\"deny\">\n\
         <node type=\"allow\" domain=\"example.test\" cidr=\"10.0.0.0/8\"/>\n\
         <node type=\"allow\" domain=\"nowhere.test\"/>\n\
         </list>\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let nodes: Vec<&NodeTarget> = cfg.acl.lists[0].nodes.iter().map(|n| &n.what).collect();
    assert_eq!(
        nodes,
        [
            &NodeTarget::Domain("example.test".into()),
            &NodeTarget::Domain("nowhere.test".into())
        ]
    );
    let w = warnings(&cfg);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains(":4: warning: list l: a node with domain= covers only"),
        "{w:?}"
    );
    assert!(
        w[1].contains(":5: warning: list l: domain \"nowhere.test\" is not in the directory (domains: example.test): this node matches no one"),
        "{w:?}"
    );
}

#[test]
fn check_prints_the_lists() {
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    write(
        dir.path(),
        "directory/default/1003.xml",
        "<include><user id=\"1003\" cidr=\"192.168.1.30/32\"/></include>\n",
    );
    acl_conf(
        dir.path(),
        "<list name=\"lan\" default=\"allow\">\n<node type=\"deny\" cidr=\"192.168.42.0/24\"/>\n<node type=\"allow\" cidr=\"192.168.42.42\"/>\n</list>\n<list name=\"domains\" default=\"deny\">\n<node type=\"allow\" domain=\"$${domain}\"/>\n</list>\n<list name=\"empty\" default=\"deny\"/>\n",
    );
    let cfg = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let s = cfg.summary();
    assert!(
        s.contains("acl lan: default allow; deny 192.168.42.0/24, allow 192.168.42.42/32\n"),
        "{s}"
    );
    assert!(
        s.contains("acl domains: default deny; allow users of example.test (1 with a cidr)\n"),
        "{s}"
    );
    assert!(s.contains("acl empty: default deny\n"), "{s}");
}

#[test]
fn long_lists_are_summarised_on_one_line() {
    let nodes: String = (0..12)
        .map(|i| format!("<node type=\"allow\" cidr=\"10.0.{i}.0/24\"/>\n"))
        .collect();
    let cfg = load_with(&format!(
        "<list name=\"big\" default=\"deny\">\n{nodes}</list>\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let s = cfg.acl.summary(&cfg.domains);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("allow 10.0.7.0/24, and 4 more\n"), "{s}");
}

#[test]
fn the_factory_acl_conf_is_deny_by_default() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let cfg = load(&conf).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.diagnostics.is_empty(), "{:?}", warnings(&cfg));
    assert_eq!(cfg.acl.lists.len(), 1, "the example ships commented out");
    let d = &cfg.acl.lists[0];
    assert_eq!(d.name, "domains");
    assert!(!d.default_allow);
    assert_eq!(d.nodes.len(), 1);
    assert!(d.nodes[0].allow);
    assert_eq!(
        d.nodes[0].what,
        NodeTarget::Domain(cfg.domains[0].name.clone())
    );
}

#[test]
fn the_commented_example_in_the_factory_file_is_valid() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/autoload_configs/acl.conf.xml"),
    )
    .unwrap();
    let start = text.find("<list name=\"lan\"").expect("the lan example");
    let end = start + text[start..].find("</list>").unwrap() + "</list>".len();
    let dir = tempfile::tempdir().unwrap();
    minimal(dir.path());
    acl_conf(dir.path(), &text[start..end]);
    let cfg = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.diagnostics.is_empty(), "{:?}", warnings(&cfg));
    let lan = cfg.acl.list("lan").unwrap();
    assert!(!lan.default_allow);
    assert_eq!(lan.nodes.len(), 3);
    assert_eq!(lan.nodes[2].what, cidr("192.168.43.0/24"));
}
