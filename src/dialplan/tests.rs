//! The engine against FreeSWITCH-tutorial dialplans: a number in, the applications
//! out.

use super::*;
use crate::config::xml::load_str;
use crate::config::Diags;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A channel: plain variables.
#[derive(Default)]
struct Vars(HashMap<String, String>);

impl Lookup for Vars {
    fn variable(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn function(&self, name: &str, args: &str) -> Option<String> {
        (name == "upper").then(|| args.to_uppercase())
    }
}

impl Channel for Vars {
    fn set_variable(&mut self, name: &str, value: &str) {
        self.0.insert(name.into(), value.into());
    }
    fn unset_variable(&mut self, name: &str) {
        self.0.remove(name);
    }
}

fn call(dest: &str, caller: &str) -> Vars {
    let mut v = Vars::default();
    v.set_variable("destination_number", dest);
    v.set_variable("caller_id_number", caller);
    v
}

fn dialplan(xml: &str) -> Dialplan {
    let (d, diags) = try_dialplan(xml);
    assert!(!diags.has_errors(), "{:?}", diags.0);
    d
}

fn try_dialplan(xml: &str) -> (Dialplan, Diags) {
    let mut diags = Diags::default();
    let mut vars = BTreeMap::new();
    vars.insert("domain".to_string(), "example.test".to_string());
    let els = load_str(Path::new("default.xml"), xml, &mut vars, &mut diags);
    let d = parse_contexts(&els, &mut diags);
    (d, diags)
}

/// A Tuesday, 10:30 (2026-11-24 is a Tuesday).
fn tuesday_morning() -> CivilTime {
    CivilTime::from_unix(1_795_516_200, 0)
}

fn plan(d: &Dialplan, ctx: &str, ch: &mut Vars, now: &CivilTime) -> Vec<(String, String)> {
    d.hunt(ctx, ch, now)
        .expect("context exists")
        .into_iter()
        .map(|p| (p.application, p.data))
        .collect()
}

fn apps(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, d)| (a.to_string(), d.to_string()))
        .collect()
}

const TUTORIAL: &str = r#"<include>
  <context name="default">
    <extension name="unloop">
      <condition field="${unroll_loops}" expression="^true$"/>
      <condition field="${sip_looped_call}" expression="^true$">
        <action application="deflect" data="${destination_number}"/>
      </condition>
    </extension>
    <extension name="set_domain" continue="true">
      <condition field="destination_number" expression="^.*$">
        <action application="set" data="domain_name=$${domain}" inline="true"/>
      </condition>
    </extension>
    <extension name="Local_Extension">
      <condition field="destination_number" expression="^(10[01][0-9])$">
        <action application="export" data="dialed_extension=$1"/>
        <action application="set" data="call_timeout=30"/>
        <action application="bridge" data="user/${dialed_extension}@${domain_name}"/>
        <action application="answer"/>
        <action application="voicemail" data="default ${domain_name} ${dialed_extension}"/>
      </condition>
    </extension>
    <extension name="group_dial_sales">
      <condition field="destination_number" expression="^2000$">
        <action application="bridge" data="user/1001@${domain_name},user/1002@${domain_name}"/>
      </condition>
    </extension>
    <extension name="office_hours">
      <condition field="destination_number" expression="^5000$"/>
      <condition wday="2-6" time-of-day="08:00-17:00">
        <action application="transfer" data="2000 XML default"/>
        <anti-action application="voicemail" data="default ${domain_name} 1000"/>
      </condition>
    </extension>
    <extension name="outbound">
      <condition field="destination_number" expression="^9(\d{7,15})$">
        <action application="bridge" data="sofia/gateway/carrier/$1"/>
      </condition>
    </extension>
    <extension name="echo">
      <condition field="destination_number" expression="^9196$">
        <action application="answer"/>
        <action application="echo"/>
      </condition>
    </extension>
  </context>
</include>"#;

#[test]
fn a_local_extension_bridges_then_falls_back_to_voicemail() {
    let d = dialplan(TUTORIAL);
    let mut ch = call("1005", "1001");
    let got = plan(&d, "default", &mut ch, &tuesday_morning());
    assert_eq!(
        got,
        apps(&[
            ("export", "dialed_extension=1005"),
            ("set", "call_timeout=30"),
            ("bridge", "user/${dialed_extension}@${domain_name}"),
            ("answer", ""),
            ("voicemail", "default ${domain_name} ${dialed_extension}"),
        ])
    );
    // The inline set ran during the hunt: $${domain} was expanded at load.
    assert_eq!(ch.variable("domain_name").as_deref(), Some("example.test"));
}

#[test]
fn the_first_match_wins_and_unmatched_numbers_plan_nothing() {
    let d = dialplan(TUTORIAL);
    let got = plan(&d, "default", &mut call("2000", "1001"), &tuesday_morning());
    assert_eq!(
        got,
        apps(&[(
            "bridge",
            "user/1001@${domain_name},user/1002@${domain_name}"
        )])
    );
    assert!(plan(
        &d,
        "default",
        &mut call("31337", "1001"),
        &tuesday_morning()
    )
    .is_empty());
    assert!(d
        .hunt("nowhere", &mut call("1000", "1"), &tuesday_morning())
        .is_none());
}

#[test]
fn captures_fill_the_dial_string() {
    let d = dialplan(TUTORIAL);
    let got = plan(
        &d,
        "default",
        &mut call("915551234567", "1001"),
        &tuesday_morning(),
    );
    assert_eq!(
        got,
        apps(&[("bridge", "sofia/gateway/carrier/15551234567")])
    );
    // Too short for the pattern: no route.
    assert!(plan(&d, "default", &mut call("9123", "1001"), &tuesday_morning()).is_empty());
}

#[test]
fn time_conditions_route_by_office_hours() {
    let d = dialplan(TUTORIAL);
    let open = plan(&d, "default", &mut call("5000", "1001"), &tuesday_morning());
    assert_eq!(open, apps(&[("transfer", "2000 XML default")]));
    // Tuesday 20:30: the time condition fails, its anti-action sends the call to
    // voicemail; the extension did not match, and nothing after it does either.
    let evening = CivilTime::from_unix(1_795_516_200 + 10 * 3600, 0);
    assert_eq!(evening.hour, 20);
    assert_eq!(
        plan(&d, "default", &mut call("5000", "1001"), &evening),
        apps(&[("voicemail", "default ${domain_name} 1000")])
    );
}

#[test]
fn anti_actions_run_when_the_condition_fails() {
    let d = dialplan(
        r#"<context name="default">
      <extension name="hours">
        <condition wday="2-6" time-of-day="08:00-17:00">
          <action application="transfer" data="2000 XML default"/>
          <anti-action application="voicemail" data="default example.test 1000"/>
        </condition>
      </extension>
    </context>"#,
    );
    // Sunday 2026-11-22 10:30.
    let sunday = CivilTime::from_unix(1_795_516_200 - 2 * 86_400, 0);
    assert_eq!(sunday.wday, 1);
    assert_eq!(
        plan(&d, "default", &mut call("1", "2"), &sunday),
        apps(&[("voicemail", "default example.test 1000")])
    );
}

#[test]
fn break_and_continue_follow_freeswitch() {
    let d = dialplan(
        r#"<context name="default">
      <extension name="tag" continue="true">
        <condition field="caller_id_number" expression="^1001$" break="never">
          <action application="set" data="vip=yes"/>
        </condition>
        <condition field="destination_number" expression="^3000$">
          <action application="log" data="INFO to 3000"/>
        </condition>
      </extension>
      <extension name="stop_here">
        <condition field="destination_number" expression="^3\d+$" break="on-true">
          <action application="answer"/>
        </condition>
        <condition field="destination_number" expression="^never$">
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="unreached">
        <condition field="destination_number" expression="^3000$">
          <action application="hangup" data="CALL_REJECTED"/>
        </condition>
      </extension>
    </context>"#,
    );
    let now = tuesday_morning();
    // A caller other than 1001: the first condition fails but break="never" goes on.
    assert_eq!(
        plan(&d, "default", &mut call("3000", "1002"), &now),
        apps(&[("log", "INFO to 3000"), ("answer", "")])
    );
    assert_eq!(
        plan(&d, "default", &mut call("3000", "1001"), &now),
        apps(&[("set", "vip=yes"), ("log", "INFO to 3000"), ("answer", "")])
    );
}

#[test]
fn fields_may_be_expressions_and_inline_sets_feed_later_conditions() {
    let d = dialplan(
        r#"<context name="default">
      <extension name="prefix" continue="true">
        <condition field="destination_number" expression="^(\d)">
          <action application="set" data="first_digit=$1" inline="true"/>
        </condition>
      </extension>
      <extension name="by_first_digit">
        <condition field="${upper(x${first_digit})}" expression="^X7$">
          <action application="playback" data="tone_stream://%(200,0,500)"/>
        </condition>
      </extension>
    </context>"#,
    );
    let got = plan(&d, "default", &mut call("7123", "1"), &tuesday_morning());
    assert_eq!(got, apps(&[("playback", "tone_stream://%(200,0,500)")]));
    assert!(plan(&d, "default", &mut call("8123", "1"), &tuesday_morning()).is_empty());
}

#[test]
fn expansion_nests_and_is_bounded() {
    let mut ch = Vars::default();
    ch.set_variable("who", "alice");
    ch.set_variable("name_alice", "Alice A.");
    assert_eq!(expand("Hi ${name_${who}}!", &ch), "Hi Alice A.!");
    assert_eq!(expand("[${missing}]", &ch), "[]");
    assert_eq!(expand("unclosed ${who", &ch), "unclosed ${who");
    // A variable that names itself cannot run away.
    ch.set_variable("loop", "${loop}${loop}");
    let out = expand("${loop}", &ch);
    assert!(out.len() <= expand::MAX_LEN);
    assert_eq!(
        substitute_captures("$1-$2-$9$", &[None, Some("a".into()), None]),
        "a--$"
    );
}

#[test]
fn bad_input_is_an_error_with_file_and_line() {
    let (_, diags) = try_dialplan(
        r#"<context name="default">
      <extension name="x">
        <condition field="destination_number" expression="^(1000$">
          <action application="answer"/>
        </condition>
        <condition field="destination_number" expression="^1$" break="sometimes"/>
        <condition wday="mon-fry"/>
        <condition field="destination_number" expression="^1$">
          <action application="bridge" data="user/1000" inline="true"/>
        </condition>
      </extension>
    </context>"#,
    );
    let text: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let find = |needle: &str| {
        text.iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic with {needle:?}: {text:#?}"))
            .clone()
    };
    assert!(find("is not a valid regular expression").starts_with("default.xml:3: error:"));
    assert!(find("break=\"sometimes\"").starts_with("default.xml:6: error:"));
    assert!(find("wday").starts_with("default.xml:7: error:"));
    assert!(find("bridge cannot run inline").starts_with("default.xml:9: error:"));
}

#[test]
fn civil_time_matches_the_calendar() {
    // 2024-02-29 23:59:59 UTC, a Thursday, day 60 of a leap year.
    let t = CivilTime::from_unix(1_709_251_199, 0);
    assert_eq!(
        (t.year, t.month, t.mday, t.hour, t.minute, t.second),
        (2024, 2, 29, 23, 59, 59)
    );
    assert_eq!((t.wday, t.yday), (5, 60));
    // One hour east of UTC it is already March 1st.
    let t = CivilTime::from_unix(1_709_251_199, 3600);
    assert_eq!((t.month, t.mday, t.yday, t.wday), (3, 1, 61, 6));
    let night = TimeTest::parse("time-of-day", "22:00-06:00").unwrap();
    assert!(night.holds(&CivilTime::from_unix(1_709_251_199, 0)));
    assert!(!night.holds(&tuesday_morning()));
    let new_year = TimeTest::parse("date-time", "2026-11-24 10:00~2026-11-24 11:00").unwrap();
    assert!(new_year.holds(&tuesday_morning()));
    let weekend = TimeTest::parse("wday", "sat-sun").unwrap();
    assert!(!weekend.holds(&tuesday_morning()));
}

#[test]
fn freeswitch_vanilla_forms_load_and_route() {
    // From FreeSWITCH's conf/vanilla/dialplan/default.xml: a look-ahead, and an
    // expression given as an element because it holds < and >.
    let d = dialplan(
        r#"<context name="default">
      <extension name="conference-canvases">
        <condition field="destination_number" expression="^((?!6000)60\d{2})$">
          <action application="answer"/>
          <action application="conference" data="$1@video"/>
        </condition>
      </extension>
      <extension name="refer">
        <condition field="${sip_refer_to}">
          <expression><![CDATA[<sip:${referred_by_user}@${domain_name}>]]></expression>
        </condition>
        <condition field="destination_number" expression="^7\d{3}$">
          <action application="log" data="refer"/>
        </condition>
      </extension>
    </context>"#,
    );
    let now = tuesday_morning();
    assert_eq!(
        plan(&d, "default", &mut call("6001", "1"), &now),
        apps(&[("answer", ""), ("conference", "6001@video")])
    );
    assert!(plan(&d, "default", &mut call("6000", "1"), &now).is_empty());
    // The expression's ${vars} are the call's, expanded before matching.
    let mut ch = call("7001", "1");
    ch.set_variable("referred_by_user", "1002");
    ch.set_variable("domain_name", "example.test");
    ch.set_variable("sip_refer_to", "<sip:1002@example.test>");
    assert_eq!(
        plan(&d, "default", &mut ch, &now),
        apps(&[("log", "refer")])
    );
    ch.set_variable("sip_refer_to", "<sip:1003@example.test>");
    assert!(plan(&d, "default", &mut ch, &now).is_empty());
}

#[test]
fn week_and_week_of_month_count_as_freeswitch_does() {
    // Tuesday 2026-11-24: day 328 of the year, the 4th Sunday-started row of November.
    let t = tuesday_morning();
    assert_eq!(t.yday, 328);
    assert!(TimeTest::parse("week", "47").unwrap().holds(&t));
    assert!(TimeTest::parse("mweek", "4").unwrap().holds(&t));
    // Sunday 2026-10-04: October began on a Thursday, so the 4th is in row 2.
    let oct4 = CivilTime::from_unix(1_791_072_000, 0);
    assert_eq!((oct4.month, oct4.mday, oct4.wday), (10, 4, 1));
    assert!(TimeTest::parse("mweek", "2").unwrap().holds(&oct4));
    assert!(!TimeTest::parse("mweek", "1").unwrap().holds(&oct4));
}

#[test]
fn the_factory_dialplan_routes_the_office_numbers() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let config = crate::config::load(&conf).expect("factory conf");
    let (d, warnings) = load(&conf, &config.vars).expect("factory dialplan");
    assert!(warnings.is_empty(), "{warnings:?}");
    let domain = config.vars["domain"].clone();
    let route_as = |dest: &str, toll_allow: &str, now: &CivilTime| -> Vec<(String, String)> {
        let mut ch = call(dest, "1001");
        ch.set_variable("outbound_caller_id_number", "+15550100");
        ch.set_variable("toll_allow", toll_allow);
        ch.set_variable("accountcode", "1001");
        let got = plan(&d, "default", &mut ch, now);
        assert_eq!(ch.variable("domain_name").as_deref(), Some(domain.as_str()));
        got
    };
    let route = |dest: &str, now: &CivilTime| route_as(dest, "local,domestic", now);
    let find = |plan: &[(String, String)], app: &str| -> Vec<String> {
        plan.iter()
            .filter(|(a, _)| a == app)
            .map(|(_, d)| d.clone())
            .collect()
    };
    let now = tuesday_morning();

    let local = route("1005", &now);
    assert_eq!(find(&local, "export"), ["dialed_extension=1005"]);
    assert_eq!(
        find(&local, "bridge"),
        ["user/${dialed_extension}@${domain_name}"]
    );
    assert_eq!(
        find(&local, "voicemail"),
        ["default ${domain_name} ${dialed_extension}"]
    );
    assert!(route("1000", &now).is_empty() && route("1100", &now).is_empty());

    assert_eq!(
        find(&route("2000", &now), "bridge"),
        ["user/1001@${domain_name},user/1002@${domain_name},user/1003@${domain_name}"]
    );
    assert_eq!(
        find(&route("2001", &now), "bridge")[0].split('|').count(),
        3,
        "the sequential group tries three phones in turn"
    );
    assert_eq!(find(&route("5000", &now), "transfer"), ["2000 XML default"]);
    let sunday = CivilTime::from_unix(1_795_516_200 - 2 * 86_400, 0);
    assert_eq!(
        find(&route("5000", &sunday), "voicemail"),
        ["default ${domain_name} 1001"]
    );
    let domestic = route("912125551234", &now);
    assert_eq!(
        find(&domestic, "bridge"),
        ["sofia/gateway/carrier/12125551234"]
    );
    // Every call out is counted per account, $${max_outbound_calls} (2) at once.
    assert_eq!(
        find(&domestic, "limit"),
        ["hash outbound ${outbound_account} 2 !USER_BUSY"]
    );
    assert_eq!(
        find(&route("95551234", &now), "bridge"),
        ["sofia/gateway/carrier/5551234"]
    );
    // toll_allow: a class the caller lacks is refused with 403 and a log line.
    let abroad = route("9011442071234567", &now);
    assert_eq!(find(&abroad, "respond"), ["403 Forbidden"]);
    assert!(find(&abroad, "bridge").is_empty(), "{abroad:?}");
    assert!(find(&route_as("912125551234", "local", &now), "bridge").is_empty());
    assert_eq!(
        find(
            &route_as("9011442071234567", "international", &now),
            "bridge"
        ),
        ["sofia/gateway/carrier/011442071234567"]
    );
    assert_eq!(route("9196", &now), apps(&[("answer", ""), ("echo", "")]));
    let moh = route("9664", &now);
    assert!(
        find(&moh, "playback")[0].starts_with("tone_stream://"),
        "{moh:?}"
    );
}

#[test]
fn api_calls_expand_their_args_then_run_through_the_hook() {
    let ch = call("5000", "1000");
    let calls = std::cell::RefCell::new(Vec::new());
    let hook = |name: &str, args: &str| {
        calls
            .borrow_mut()
            .push((name.to_string(), args.to_string()));
        match name {
            "echo" => Some(format!("<{args}>")),
            _ => None,
        }
    };
    let api: Option<ApiHook> = Some(&hook);
    assert_eq!(
        expand_with("${echo(check spammers ${caller_id_number})}", &ch, api),
        "<check spammers 1000>"
    );
    // The space form, trimming, the matching parenthesis, output not re-expanded.
    assert_eq!(expand_with("${echo  a  b }", &ch, api), "<a  b>");
    assert_eq!(expand_with("${echo(f(x) y)}!", &ch, api), "<f(x) y>!");
    assert_eq!(expand_with("${echo(${x}$)}", &ch, api), "<$>");
    // No such command: nothing (FreeSWITCH drops "INVALID COMMAND!").
    assert_eq!(expand_with("[${nosuch(1)}]", &ch, api), "[]");
    // The channel's own functions come first; plain variables are unchanged.
    assert_eq!(
        expand_with("${upper(x${caller_id_number})}", &ch, api),
        "X1000"
    );
    assert_eq!(expand_with("${destination_number}", &ch, api), "5000");
    assert_eq!(
        calls.borrow().clone(),
        [
            ("echo", "check spammers 1000"),
            ("echo", "a  b"),
            ("echo", "f(x) y"),
            ("echo", "$"),
            ("nosuch", "1"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[test]
fn without_a_hook_expansion_is_unchanged() {
    let mut ch = call("5000", "1000");
    ch.set_variable("a b", "spaced");
    assert_eq!(expand("${a b}", &ch), "spaced");
    assert_eq!(expand_with("${a b}", &ch, None), "spaced");
    assert_eq!(expand("[${blacklist(check l 1)}]", &ch), "[]");
    assert_eq!(expand("${upper(a)}", &ch), "A");
}

const BLACKLIST_DIALPLAN: &str = r#"<context name="public">
  <extension name="blacklisted">
    <condition field="${blacklist(check spammers ${caller_id_number})}" expression="^true$">
      <action application="respond" data="403"/>
    </condition>
  </extension>
  <extension name="to_office">
    <condition field="destination_number" expression="^(\d{4})$">
      <action application="bridge" data="user/$1"/>
    </condition>
  </extension>
</context>"#;

#[test]
fn a_blacklisted_caller_is_refused_and_another_is_routed() {
    use crate::guard::blacklist::{Blacklists, Limits};
    let mut lists = Blacklists::new(Limits {
        max_entries_per_list: 100,
        max_regex_per_list: 10,
        max_regex_size: 64 * 1024,
    });
    let mut diags = Diags::default();
    lists.declare("spammers", "/conf/blacklists/spammers.list".into());
    lists.load_text("spammers", "5551234\n~^1900\n", &mut diags);
    assert!(diags.0.is_empty());
    let hook = |name: &str, args: &str| match name {
        "blacklist" => lists.api_check(args),
        _ => None,
    };
    let d = dialplan(BLACKLIST_DIALPLAN);
    let now = tuesday_morning();
    let route = |caller: &str| {
        d.hunt_with_api("public", &mut call("1001", caller), &now, Some(&hook))
            .expect("context exists")
            .into_iter()
            .map(|p| (p.application, p.data))
            .collect::<Vec<_>>()
    };
    assert_eq!(route("5551234"), apps(&[("respond", "403")]));
    assert_eq!(
        route("19005550000"),
        apps(&[("respond", "403")]),
        "regex entry"
    );
    assert_eq!(route("5550000"), apps(&[("bridge", "user/1001")]));
    // Without the hook the condition cannot hold: everyone is routed.
    assert_eq!(
        plan(&d, "public", &mut call("1001", "5551234"), &now),
        apps(&[("bridge", "user/1001")])
    );
}

#[test]
fn word_boundaries_match_instead_of_panicking() {
    // toll_allow is a comma list: `\blocal\b` must match it and not `nonlocal`.
    // (fancy-regex runs \b in its own matcher, which panicked without regex-automata's
    // unicode-word-boundary feature.)
    let d = dialplan(
        r#"<context name="default">
      <extension name="local">
        <condition field="${toll_allow}" expression="\blocal\b"/>
        <condition field="destination_number" expression="^9(\d{7})$">
          <action application="log" data="local $1"/>
        </condition>
      </extension>
    </context>"#,
    );
    let now = tuesday_morning();
    for (toll_allow, allowed) in [
        ("local", true),
        ("domestic,local", true),
        ("local, international", true),
        ("nonlocal", false),
        ("", false),
    ] {
        let mut ch = call("95551234", "1001");
        ch.set_variable("toll_allow", toll_allow);
        let p = plan(&d, "default", &mut ch, &now);
        assert_eq!(!p.is_empty(), allowed, "toll_allow={toll_allow:?}: {p:?}");
    }
}
