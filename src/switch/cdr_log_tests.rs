use super::*;
use crate::config::cdr_csv::EXAMPLE_TEMPLATE as EXAMPLE;
use crate::config::Source;

/// 2026-11-24 10:30:00 UTC.
const T0: u64 = 1_795_516_200_000_000;
const DAY: u64 = 86_400 * 1_000_000;

fn config() -> CdrCsvConfig {
    CdrCsvConfig::defaults(Source {
        file: "cdr_csv.conf.xml".into(),
        line: 0,
    })
}

/// A record of call `uuid` that ended at `end_us`.
fn record(uuid: &str, end_us: u64) -> Cdr {
    let f = |n: &str, v: &str| (n.to_string(), v.to_string());
    Cdr {
        fields: vec![
            f("caller_id_name", "Reception"),
            f("caller_id_number", "1001"),
            f("destination_number", "1002"),
            f("context", "default"),
            f("start_stamp", "2026-11-24 11:30:00"),
            f("answer_stamp", "2026-11-24 11:30:05"),
            f("end_stamp", "2026-11-24 11:31:02"),
            f("duration", "62"),
            f("billsec", "56"),
            f("hangup_cause", "NORMAL_CLEARING"),
            f("uuid", uuid),
            f("end_uepoch", &end_us.to_string()),
        ],
    }
}

fn with(mut cdr: Cdr, name: &str, value: &str) -> Cdr {
    match cdr.fields.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value.to_string(),
        None => cdr.fields.push((name.to_string(), value.to_string())),
    }
    cdr
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        Fixture { dir, store }
    }

    fn log(&self, csv: CdrCsvConfig) -> CdrLog {
        CdrLog::open(&self.store, csv, self.dir.path()).unwrap()
    }

    fn csv(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.dir.path().join("cdr-csv").join(name)).ok()
    }
}

fn uuids(cdrs: &[Cdr]) -> Vec<&str> {
    cdrs.iter().map(|c| c.get("uuid").unwrap()).collect()
}

#[test]
fn list_returns_the_newest_first() {
    let fx = Fixture::new();
    let mut log = fx.log(config());
    // Written out of end order: a B leg may be reported before its A leg.
    log.write(LegKind::A, &record("b", T0 + 2)).unwrap();
    log.write(LegKind::A, &record("a", T0 + 1)).unwrap();
    log.write(LegKind::A, &record("c", T0 + 3)).unwrap();
    assert_eq!(uuids(&log.list(2)), ["c", "b"]);
    assert_eq!(uuids(&log.list(10)), ["c", "b", "a"]);
    assert!(log.list(0).is_empty());
    assert_eq!(log.len(), 3);
    // The same record again is one record.
    log.write(LegKind::A, &record("c", T0 + 3)).unwrap();
    assert_eq!(log.len(), 3);
}

#[test]
fn a_written_record_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cdr = record("0f6d-uuid", T0);
    {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let mut log = CdrLog::open(&store, config(), dir.path()).unwrap();
        log.write(LegKind::A, &cdr).unwrap();
    }
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let log = CdrLog::open(&store, config(), dir.path()).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log.list(5), [cdr]);
}

#[test]
fn master_csv_gets_the_rendered_template_with_quotes_doubled_and_no_header() {
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        master_file_only: true,
        ..config()
    });
    let cdr = with(record("u1", T0), "caller_id_name", "Eve \"the boss\"");
    log.write(LegKind::A, &cdr).unwrap();
    let master = fx.csv("Master.csv").unwrap();
    assert_eq!(master, format!("{}\n", cdr.render(EXAMPLE)));
    assert!(
        master.starts_with("\"Eve \"\"the boss\"\"\",\"1001\",\"1002\""),
        "{master}"
    );
    log.write(LegKind::A, &record("u2", T0 + 1)).unwrap();
    assert_eq!(fx.csv("Master.csv").unwrap().lines().count(), 2);
    assert_eq!(log.csv_failures(), 0);
}

#[test]
fn log_base_is_the_folder_above_cdr_csv() {
    let fx = Fixture::new();
    let base = fx.dir.path().join("logs");
    let mut log = fx.log(CdrCsvConfig {
        log_base: Some(base.clone()),
        ..config()
    });
    log.write(LegKind::A, &record("u1", T0)).unwrap();
    assert_eq!(log.csv_dir(), base.join("cdr-csv"));
    assert!(base.join("cdr-csv/Master.csv").is_file());
}

#[test]
fn an_accountcode_gets_its_file_unless_master_file_only() {
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        templates: vec![
            ("example".into(), EXAMPLE.into()),
            ("sales".into(), "\"${uuid}\",\"${billsec}\"".into()),
        ],
        ..config()
    });
    let sales = with(record("u1", T0), "accountcode", "sales");
    let support = with(record("u2", T0 + 1), "accountcode", "support");
    log.write(LegKind::A, &sales).unwrap();
    log.write(LegKind::A, &support).unwrap();
    // The accountcode's own template for its file, the default one for Master.csv.
    assert_eq!(fx.csv("sales.csv").unwrap(), "\"u1\",\"56\"\n");
    assert_eq!(
        fx.csv("support.csv").unwrap(),
        format!("{}\n", support.render(EXAMPLE))
    );
    assert_eq!(
        fx.csv("Master.csv").unwrap(),
        format!("{}\n{}\n", sales.render(EXAMPLE), support.render(EXAMPLE))
    );

    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        master_file_only: true,
        ..config()
    });
    log.write(LegKind::A, &sales).unwrap();
    assert_eq!(fx.csv("sales.csv"), None);
    assert!(fx.csv("Master.csv").is_some());
}

#[test]
fn an_accountcode_cannot_choose_where_we_write() {
    let fx = Fixture::new();
    let mut log = fx.log(config());
    for (i, account) in ["../escaped", "a/b", ".hidden", "x\0y"].iter().enumerate() {
        log.write(
            LegKind::A,
            &with(
                record(&format!("u{i}"), T0 + i as u64),
                "accountcode",
                account,
            ),
        )
        .unwrap();
    }
    let mut files: Vec<String> = fs::read_dir(fx.dir.path().join("cdr-csv"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["Master.csv"]);
    assert!(!fx.dir.path().join("escaped.csv").exists());
    assert_eq!(fx.csv("Master.csv").unwrap().lines().count(), 4);
}

#[test]
fn legs_filters_the_csv_but_every_leg_is_stored() {
    let fx = Fixture::new();
    let mut log = fx.log(config()); // legs = a
    log.write(LegKind::B, &record("b-leg", T0)).unwrap();
    assert_eq!(fx.csv("Master.csv"), None);
    log.write(LegKind::A, &record("a-leg", T0 + 1)).unwrap();
    assert!(fx.csv("Master.csv").unwrap().contains("\"a-leg\""));
    assert!(!fx.csv("Master.csv").unwrap().contains("\"b-leg\""));
    assert_eq!(uuids(&log.list(10)), ["a-leg", "b-leg"]);

    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        legs: Legs::B,
        ..config()
    });
    log.write(LegKind::A, &record("a-leg", T0)).unwrap();
    log.write(LegKind::B, &record("b-leg", T0 + 1)).unwrap();
    let master = fx.csv("Master.csv").unwrap();
    assert!(master.contains("\"b-leg\"") && !master.contains("\"a-leg\""));

    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        legs: Legs::Both,
        ..config()
    });
    log.write(LegKind::A, &record("a-leg", T0)).unwrap();
    log.write(LegKind::B, &record("b-leg", T0 + 1)).unwrap();
    assert_eq!(fx.csv("Master.csv").unwrap().lines().count(), 2);
}

#[test]
fn a_csv_failure_keeps_the_stored_record_and_is_counted() {
    let fx = Fixture::new();
    // log-base is a file: its cdr-csv folder cannot be created.
    let base = fx.dir.path().join("not-a-folder");
    fs::write(&base, "").unwrap();
    let mut log = fx.log(CdrCsvConfig {
        log_base: Some(base),
        ..config()
    });
    log.write(LegKind::A, &record("u1", T0)).unwrap();
    assert_eq!(log.csv_failures(), 1);
    assert_eq!(uuids(&log.list(1)), ["u1"]);
}

#[test]
fn prune_by_count_keeps_the_newest() {
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        max_records: 2,
        ..config()
    });
    for (i, u) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        log.write(LegKind::A, &record(u, T0 + i as u64)).unwrap();
    }
    // Across prune batches (3 in tests).
    assert_eq!(log.prune(T0 + DAY), 6);
    assert_eq!(uuids(&log.list(10)), ["h", "g"]);
    assert_eq!(log.len(), 2);
    assert_eq!(log.prune(T0 + DAY), 0);

    // 0 = unlimited.
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        max_records: 0,
        ..config()
    });
    for i in 0..3 {
        log.write(LegKind::A, &record(&format!("u{i}"), T0 + i))
            .unwrap();
    }
    assert_eq!(log.prune(T0 + 100 * DAY), 0);
    assert_eq!(log.len(), 3);
}

#[test]
fn prune_by_age_drops_calls_that_ended_too_long_ago() {
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        max_age_days: 2,
        ..config()
    });
    let now = T0 + 10 * DAY;
    log.write(LegKind::A, &record("5-days", now - 5 * DAY))
        .unwrap();
    log.write(LegKind::A, &record("3-days", now - 3 * DAY))
        .unwrap();
    log.write(LegKind::A, &record("1-day", now - DAY)).unwrap();
    log.write(LegKind::A, &record("now", now)).unwrap();
    assert_eq!(log.prune(now), 2);
    assert_eq!(uuids(&log.list(10)), ["now", "1-day"]);
    assert_eq!(log.len(), 2);
}

#[test]
fn rotate_renames_with_the_local_time_and_a_new_write_starts_a_fresh_file() {
    let fx = Fixture::new();
    let mut log = fx.log(config());
    log.set_utc_offset(3600);
    log.write(LegKind::A, &with(record("old", T0), "accountcode", "sales"))
        .unwrap();
    log.rotate_at(T0).unwrap();
    assert_eq!(fx.csv("Master.csv"), None);
    assert_eq!(fx.csv("sales.csv"), None);
    let rotated = fx.csv("Master.csv.2026-11-24-11-30-00").unwrap();
    assert!(rotated.contains("\"old\""));
    assert!(fx.csv("sales.csv.2026-11-24-11-30-00").is_some());

    log.write(LegKind::A, &record("new", T0 + 1)).unwrap();
    let fresh = fx.csv("Master.csv").unwrap();
    assert_eq!(fresh.lines().count(), 1);
    assert!(fresh.contains("\"new\""));

    // A second rotation in the same second does not overwrite the first.
    log.rotate_at(T0).unwrap();
    assert!(fx
        .csv("Master.csv.2026-11-24-11-30-00.1")
        .unwrap()
        .contains("\"new\""));
    assert!(fx
        .csv("Master.csv.2026-11-24-11-30-00")
        .unwrap()
        .contains("\"old\""));
}

#[test]
fn without_rotate_on_hup_nothing_is_renamed() {
    let fx = Fixture::new();
    let mut log = fx.log(CdrCsvConfig {
        rotate_on_hup: false,
        ..config()
    });
    log.write(LegKind::A, &record("u1", T0)).unwrap();
    log.rotate().unwrap();
    log.write(LegKind::A, &record("u2", T0 + 1)).unwrap();
    assert_eq!(fx.csv("Master.csv").unwrap().lines().count(), 2);
    assert_eq!(fs::read_dir(log.csv_dir()).unwrap().count(), 1);
}

#[test]
fn export_writes_a_header_and_every_record_oldest_first() {
    let fx = Fixture::new();
    let mut log = fx.log(config());
    let (a, b) = (record("a", T0), record("b", T0 + 1));
    log.write(LegKind::B, &b).unwrap();
    log.write(LegKind::A, &a).unwrap();
    let template = "\"${uuid}\",\"${billsec}\"";
    let mut out = Vec::new();
    assert_eq!(log.export_csv(template, &mut out).unwrap(), 2);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"uuid\",\"billsec\"\n\"a\",\"56\"\n\"b\",\"56\"\n"
    );
}

#[test]
fn format_list_is_a_show_style_table() {
    let cdrs = [
        record("u2", T0 + 1),
        with(record("u1", T0), "caller_id_number", "10,01\n"),
    ];
    assert_eq!(
        format_list(&cdrs),
        "uuid,caller_id_number,destination_number,start_stamp,duration,billsec,hangup_cause\n\
         u2,1001,1002,2026-11-24 11:30:00,62,56,NORMAL_CLEARING\n\
         u1,10%2C01,1002,2026-11-24 11:30:00,62,56,NORMAL_CLEARING\n\
         \n2 total.\n"
    );
    assert_eq!(
        format_list(&[]),
        "uuid,caller_id_number,destination_number,start_stamp,duration,billsec,hangup_cause\n\n0 total.\n"
    );
}
