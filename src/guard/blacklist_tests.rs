//! mod_blacklist's API answers, regex entries, bounds, and persistence.

use super::*;
use crate::config::blacklist::{BlacklistList, DEFAULT_MAX_REGEX_SIZE};
use crate::store::{Durability, Store};

fn limits() -> Limits {
    Limits {
        max_entries_per_list: 1000,
        max_regex_per_list: 10,
        max_regex_size: DEFAULT_MAX_REGEX_SIZE,
    }
}

/// A `spammers` list from `text`, plus an empty `vip` list.
fn lists(text: &str) -> (Blacklists, Diags) {
    let mut b = Blacklists::new(limits());
    let mut d = Diags::default();
    b.declare("spammers", PathBuf::from("/conf/blacklists/spammers.list"));
    b.load_text("spammers", text, &mut d);
    b.declare("vip", PathBuf::from("/conf/blacklists/vip.list"));
    (b, d)
}

fn reply(b: &mut Blacklists, cmd: &str) -> String {
    b.api(cmd, 1_700_000_000).reply
}

#[test]
fn check_answers_true_or_false_without_newline() {
    let (mut b, d) = lists("1000\n2000\r\n  3000  \n\n");
    assert!(d.0.is_empty());
    assert_eq!(reply(&mut b, "check spammers 1000"), "true");
    assert_eq!(reply(&mut b, "check spammers 2000"), "true");
    assert_eq!(
        reply(&mut b, "check spammers 3000"),
        "true",
        "lines are trimmed"
    );
    assert_eq!(reply(&mut b, "check spammers 1001"), "false");
    assert_eq!(
        reply(&mut b, "check spammers 100"),
        "false",
        "exact, not prefix"
    );
    assert_eq!(
        reply(&mut b, "check nosuch 1000"),
        "false",
        "unknown list: false"
    );
    assert_eq!(reply(&mut b, "CHECK spammers 1000"), "true", "strcasecmp");
    assert_eq!(
        reply(&mut b, "check Spammers 1000"),
        "false",
        "names: exact"
    );
    assert_eq!(reply(&mut b, "check spammers"), "", "missing item: nothing");
    assert_eq!(reply(&mut b, "check"), "");
    assert_eq!(reply(&mut b, ""), "");
    assert_eq!(reply(&mut b, "   "), "");
    assert_eq!(reply(&mut b, "check spammers 1000\nadd spammers 9"), "true");
    assert_eq!(b.stats().checks, 9, "calls with both arguments");
    assert_eq!(b.stats().hits, 5);
}

#[test]
fn add_del_save_reload_help_answer_as_mod_blacklist() {
    let (mut b, _) = lists("1000\n");
    let out = b.api("add spammers 5551234", 42);
    assert_eq!(out.reply, "+OK\n");
    assert_eq!(
        out.effect,
        Effect::Persist(BlacklistEdit {
            list: "spammers".into(),
            item: "5551234".into(),
            added: true,
            at_unix: 42
        })
    );
    assert_eq!(reply(&mut b, "check spammers 5551234"), "true");
    // Adding again: +OK, nothing to store.
    assert_eq!(b.api("add spammers 5551234", 43).effect, Effect::None);
    assert_eq!(reply(&mut b, "add nosuch 1"), "-ERR Unknown blacklist\n");
    assert_eq!(reply(&mut b, "add spammers"), "");

    assert_eq!(reply(&mut b, "del spammers 5551234"), "+OK\n");
    assert_eq!(reply(&mut b, "check spammers 5551234"), "false");
    let absent = b.api("del spammers 5551234", 44);
    assert_eq!(absent.reply, "+OK\n", "del of an absent item is still +OK");
    assert_eq!(absent.effect, Effect::None);
    assert_eq!(reply(&mut b, "del nosuch 1"), "-ERR Unknown blacklist\n");

    let save = b.api("save spammers", 45);
    assert_eq!(save.reply, "+OK\n");
    assert_eq!(
        save.effect,
        Effect::Save {
            list: "spammers".into(),
            path: PathBuf::from("/conf/blacklists/spammers.list"),
            text: "1000\n".into()
        }
    );
    assert_eq!(reply(&mut b, "save nosuch"), "-ERR Unknown blacklist\n");
    assert_eq!(reply(&mut b, "save"), "");

    let reload = b.api("reload", 46);
    assert_eq!(
        (reload.reply.as_str(), reload.effect),
        ("+OK\n", Effect::Reload)
    );

    let help = reply(&mut b, "help");
    assert!(help.starts_with("blacklist check <listname> <item>\n"));
    assert!(help.ends_with("blacklist help\n+OK\n"));
    assert_eq!(
        reply(&mut b, "frobnicate spammers"),
        "-ERR: No such command: frobnicate (see 'blacklist help')\n"
    );
}

#[test]
fn the_item_keeps_the_rest_of_the_line_and_quotes_group() {
    let (mut b, _) = lists("");
    assert_eq!(reply(&mut b, "add spammers Anonymous Caller"), "+OK\n");
    assert_eq!(reply(&mut b, "check spammers 'Anonymous Caller'"), "true");
    assert_eq!(reply(&mut b, "check spammers Anonymous"), "false");
}

#[test]
fn list_shows_names_and_entries() {
    let (mut b, _) = lists("2000\n1000\n~^1900\n");
    assert_eq!(reply(&mut b, "list"), "spammers\nvip\n");
    assert_eq!(reply(&mut b, "list spammers"), "1000\n2000\n~^1900\n");
    assert_eq!(reply(&mut b, "list vip"), "");
    assert_eq!(reply(&mut b, "list nosuch"), "-ERR Unknown blacklist\n");
}

#[test]
fn regex_entries_match_unanchored_and_are_checked() {
    let (mut b, d) = lists("~^1900\\d{4}$\n~666\n~(unclosed\n5000\n");
    assert_eq!(d.0.len(), 1, "{:?}", d.0);
    let w = d.0[0].to_string();
    assert!(
        w.starts_with("/conf/blacklists/spammers.list:3: warning: blacklist spammers: \"~(unclosed\" left out: bad regex"),
        "{w}"
    );
    assert_eq!(reply(&mut b, "check spammers 19001234"), "true");
    assert_eq!(reply(&mut b, "check spammers 190012345"), "false");
    assert_eq!(
        reply(&mut b, "check spammers 1666000"),
        "true",
        "unanchored"
    );
    assert_eq!(reply(&mut b, "check spammers 5000"), "true");
    assert_eq!(
        reply(&mut b, "add spammers ~[0-9"),
        "-ERR list spammers: bad regex: unclosed character class\n"
    );
    assert!(reply(&mut b, "add spammers ~").starts_with("-ERR list spammers: bad regex: empty"));
    assert_eq!(reply(&mut b, "add vip ~^44"), "+OK\n");
    assert_eq!(reply(&mut b, "check vip 4420"), "true");
    assert_eq!(reply(&mut b, "del vip ~^44"), "+OK\n");
    assert_eq!(reply(&mut b, "check vip 4420"), "false");
    assert_eq!(b.stats().refused_regex, 3);
}

#[test]
fn lists_are_bounded() {
    let mut b = Blacklists::new(Limits {
        max_entries_per_list: 3,
        max_regex_per_list: 1,
        max_regex_size: 2048,
    });
    b.declare("l", PathBuf::from("/l"));
    let mut d = Diags::default();
    b.load_text("l", "1\n2\n3\n4\n5\n", &mut d);
    assert_eq!(b.list("l").map(List::len), Some(3));
    assert_eq!(d.0.len(), 1, "one warning, then the rest is skipped");
    assert!(d.0[0].to_string().contains("/l:4: warning"), "{}", d.0[0]);
    assert_eq!(
        reply(&mut b, "add l 9"),
        "-ERR list l: list is full (3 entries)\n"
    );
    assert_eq!(
        reply(&mut b, "add l 1"),
        "+OK\n",
        "already there: not refused"
    );
    assert_eq!(reply(&mut b, "del l 3"), "+OK\n");
    assert_eq!(reply(&mut b, "add l ~^7"), "+OK\n");
    assert_eq!(reply(&mut b, "del l 2"), "+OK\n");
    assert_eq!(
        reply(&mut b, "add l ~^8"),
        "-ERR list l: list has the most regex entries allowed (1)\n"
    );
    // A pattern whose compiled form is larger than the cap.
    assert_eq!(reply(&mut b, "del l ~^7"), "+OK\n");
    let big = format!("add l ~{}", "(a|b|c|d|e)\\w{50}".repeat(20));
    let r = reply(&mut b, &big);
    assert!(
        r.starts_with("-ERR list l: bad regex: compiles larger than max-regex-size (2048 bytes)"),
        "{r}"
    );
    let s = b.stats();
    assert_eq!((s.refused_full, s.refused_regex), (2, 2));
}

#[test]
fn dialplan_check_path_is_read_only() {
    let (b, _) = lists("1000\n");
    assert_eq!(b.api_check("check spammers 1000").as_deref(), Some("true"));
    assert_eq!(b.api_check("check spammers 1").as_deref(), Some("false"));
    assert_eq!(b.api_check("check spammers").as_deref(), Some(""));
    assert_eq!(b.api_check("add spammers 1"), None);
}

#[test]
fn edits_replay_over_the_file_after_a_restart() {
    let file = "1000\n2000\n";
    let (mut b, _) = lists(file);
    let mut stored: BTreeMap<Vec<u8>, BlacklistEdit> = BTreeMap::new();
    for cmd in [
        "add spammers 3000",
        "del spammers 1000",
        "add spammers ~^99",
        "add spammers 4000",
        "del spammers 4000",
    ] {
        if let Effect::Persist(e) = b.api(cmd, 7).effect {
            stored.insert(e.key(), e);
        }
    }
    // The store holds one edit per item: 3000 added, 1000 deleted, ~^99 added, 4000
    // deleted.
    assert_eq!(stored.len(), 4);
    // Restart: the file as it was, then the edits.
    let (mut again, _) = lists(file);
    let mut d = Diags::default();
    again.replay(stored.values(), &mut d);
    assert!(d.0.is_empty());
    for (n, want) in [
        ("1000", "false"),
        ("2000", "true"),
        ("3000", "true"),
        ("4000", "false"),
        ("99123", "true"),
    ] {
        assert_eq!(
            reply(&mut again, &format!("check spammers {n}")),
            want,
            "{n}"
        );
    }
    // An edit for a list that is gone is a warning, not a failure.
    let gone = BlacklistEdit {
        list: "removed".into(),
        item: "1".into(),
        added: true,
        at_unix: 0,
    };
    again.replay([&gone], &mut d);
    assert!(d.0[0].message.contains("stored add of \"1\" not applied"));
}

#[test]
fn edits_survive_a_store_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let tree = store.tree::<BlacklistEdit>().unwrap();
        let (mut b, _) = lists("");
        if let Effect::Persist(e) = b.api("add spammers 5551234", 9).effect {
            tree.insert(&e.key(), &e, Durability::Lazy).unwrap();
        }
        tree.sync().unwrap();
    }
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let tree = store.tree::<BlacklistEdit>().unwrap();
    let edits: Vec<BlacklistEdit> = tree.iter().filter_map(|(_, r)| r.ok()).collect();
    let (mut b, _) = lists("");
    let mut d = Diags::default();
    b.replay(&edits, &mut d);
    assert_eq!(reply(&mut b, "check spammers 5551234"), "true");
    assert!(edits[0]
        .key()
        .starts_with(&BlacklistEdit::list_prefix("spammers")));
}

#[test]
fn record_round_trips_and_rejects_garbage() {
    let e = BlacklistEdit {
        list: "spammers".into(),
        item: "~^1900".into(),
        added: false,
        at_unix: 1_700_000_000,
    };
    assert_eq!(BlacklistEdit::from_bytes(&e.to_bytes()).unwrap(), e);
    let mut bad = e.to_bytes();
    let flag = bad.len() - 9;
    bad[flag] = 7;
    assert!(BlacklistEdit::from_bytes(&bad).is_err());
}

#[test]
fn files_load_and_save_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spammers.list");
    std::fs::write(&path, "1000\n~^1900\n").unwrap();
    let cfg = BlacklistConfig {
        lists: vec![
            BlacklistList {
                name: "spammers".into(),
                filename: path.clone(),
                source: Source {
                    file: "blacklist.conf.xml".into(),
                    line: 3,
                },
            },
            BlacklistList {
                name: "new".into(),
                filename: dir.path().join("new.list"),
                source: Source {
                    file: "blacklist.conf.xml".into(),
                    line: 4,
                },
            },
        ],
        ..BlacklistConfig::default()
    };
    let mut d = Diags::default();
    let mut b = load_lists(&cfg, &mut d);
    assert_eq!(d.0.len(), 1);
    assert!(d.0[0]
        .to_string()
        .starts_with("blacklist.conf.xml:4: warning: blacklist new: cannot read"));
    assert_eq!(reply(&mut b, "check spammers 19005"), "true");
    assert_eq!(reply(&mut b, "add new 42"), "+OK\n");
    let Effect::Save { path: p, text, .. } = b.api("save new", 0).effect else {
        panic!("save gives a Save effect");
    };
    write_list_file(&p, &text).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("new.list")).unwrap(),
        "42\n"
    );
    let mut d = Diags::default();
    let mut again = load_lists(&cfg, &mut d);
    assert!(d.0.is_empty());
    assert_eq!(reply(&mut again, "check new 42"), "true");
}
