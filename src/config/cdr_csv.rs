//! `autoload_configs/cdr_csv.conf.xml`, mod_cdr_csv's settings: where CSV exports of
//! the call records go, which legs are written, and the line templates
//! (`"${caller_id_number}","${billsec}",...`). Without the file, FreeSWITCH's own
//! "example" template is used.
//!
//! loopstart adds retention to the settings (`max-records`, `max-age-days`): every
//! record is kept in the store, so the store must not grow without bound on the box's
//! flash.

use std::path::PathBuf;

use super::diag::{Diags, Source};
use super::values::{boolean, number, params, unknown};
use super::xml::Element;

/// FreeSWITCH's "example" template (conf/vanilla's cdr_csv.conf.xml).
pub const EXAMPLE_TEMPLATE: &str = r#""${caller_id_name}","${caller_id_number}","${destination_number}","${context}","${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}","${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}""#;

/// Default `max-records`: about 100 MB of store at a typical record size.
pub const DEFAULT_MAX_RECORDS: u64 = 100_000;

/// Which legs of a call get a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legs {
    A,
    B,
    Both,
}

#[derive(Debug, Clone)]
pub struct CdrCsvConfig {
    /// `log-base`: the files go to `<log-base>/cdr-csv/`, as in FreeSWITCH. None: the
    /// data directory.
    pub log_base: Option<PathBuf>,
    pub default_template: String,
    pub legs: Legs,
    pub rotate_on_hup: bool,
    pub master_file_only: bool,
    /// Templates by name, in file order.
    pub templates: Vec<(String, String)>,
    /// `max-records` (loopstart): records kept in the store, oldest dropped first;
    /// 0 = unlimited.
    pub max_records: u64,
    /// `max-age-days` (loopstart): records whose call ended longer ago are dropped;
    /// 0 = unlimited.
    pub max_age_days: u32,
    pub source: Source,
}

impl CdrCsvConfig {
    pub fn defaults(source: Source) -> CdrCsvConfig {
        CdrCsvConfig {
            log_base: None,
            default_template: "example".into(),
            legs: Legs::A,
            rotate_on_hup: true,
            master_file_only: false,
            templates: vec![("example".into(), EXAMPLE_TEMPLATE.into())],
            max_records: DEFAULT_MAX_RECORDS,
            max_age_days: 0,
            source,
        }
    }

    pub fn template(&self, name: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }
}

/// Reads `<configuration name="cdr_csv.conf">`.
pub fn cdr_csv(el: &Element, diags: &mut Diags) -> CdrCsvConfig {
    let mut c = CdrCsvConfig::defaults(el.source.clone());
    let mut default_at = el.source.clone();
    let mut templates = Vec::new();
    for section in &el.children {
        match section.name.as_str() {
            "settings" => {
                for p in params(section, diags) {
                    match p.name.as_str() {
                        "log-base" => c.log_base = Some(PathBuf::from(p.value.trim())),
                        "default-template" => {
                            c.default_template = p.value.trim().to_string();
                            default_at = p.source.clone();
                        }
                        "legs" => match p.value.trim() {
                            "a" => c.legs = Legs::A,
                            "b" => c.legs = Legs::B,
                            "ab" | "ba" => c.legs = Legs::Both,
                            other => diags
                                .error(&p.source, format!("legs={other:?}: expected a, b or ab")),
                        },
                        "rotate-on-hup" => {
                            if let Some(b) = boolean(&p, diags) {
                                c.rotate_on_hup = b;
                            }
                        }
                        "master-file-only" => {
                            if let Some(b) = boolean(&p, diags) {
                                c.master_file_only = b;
                            }
                        }
                        "max-records" => {
                            if let Some(n) =
                                number(&p, diags, 0, 100_000_000, "records; 0 = unlimited")
                            {
                                c.max_records = n;
                            }
                        }
                        "max-age-days" => {
                            if let Some(n) = number(&p, diags, 0, 36_500, "days; 0 = unlimited") {
                                c.max_age_days = n;
                            }
                        }
                        _ => unknown(&p, &["debug"], diags),
                    }
                }
            }
            "templates" => {
                for t in &section.children {
                    match (t.name.as_str(), t.attr("name")) {
                        ("template", Some(name)) if !name.is_empty() => {
                            templates.push((name.to_string(), t.text.clone()));
                        }
                        ("template", _) => diags.error(&t.source, "<template> without a name"),
                        (other, _) => diags.warn(
                            &t.source,
                            format!("unknown element <{other}> in <templates> (ignored)"),
                        ),
                    }
                }
            }
            other => diags.warn(
                &section.source,
                format!("unknown element <{other}> in cdr_csv.conf (ignored)"),
            ),
        }
    }
    if !templates.is_empty() {
        c.templates = templates;
    }
    if c.template(&c.default_template).is_none() {
        let known: Vec<&str> = c.templates.iter().map(|(n, _)| n.as_str()).collect();
        diags.error(
            &default_at,
            format!(
                "default-template {:?} is not among the templates ({})",
                c.default_template,
                known.join(", ")
            ),
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;
    use std::path::Path;

    fn parse(settings: &str) -> (CdrCsvConfig, Diags) {
        let text = format!(
            "<configuration name=\"cdr_csv.conf\">\n<settings>\n{settings}\n</settings>\n</configuration>"
        );
        let mut diags = Diags::default();
        let els = load_str(
            Path::new("cdr_csv.conf.xml"),
            &text,
            &mut Default::default(),
            &mut diags,
        );
        let c = cdr_csv(&els[0], &mut diags);
        (c, diags)
    }

    #[test]
    fn retention_defaults_and_values() {
        let (c, diags) = parse("");
        assert!(diags.0.is_empty(), "{diags:?}");
        assert_eq!((c.max_records, c.max_age_days), (100_000, 0));

        let (c, diags) = parse(
            "<param name=\"max-records\" value=\"0\"/>\n<param name=\"max-age-days\" value=\" 90 \"/>",
        );
        assert!(diags.0.is_empty(), "{diags:?}");
        assert_eq!((c.max_records, c.max_age_days), (0, 90));
    }

    #[test]
    fn a_bad_retention_value_is_an_error_with_its_line_and_keeps_the_default() {
        let (c, diags) = parse(
            "<param name=\"max-records\" value=\"lots\"/>\n<param name=\"max-age-days\" value=\"-1\"/>",
        );
        let errors: Vec<String> = diags.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            errors,
            [
                "cdr_csv.conf.xml:3: error: param \"max-records\" value \"lots\" is not a number; \
                 allowed: 0-100000000 (records; 0 = unlimited)",
                "cdr_csv.conf.xml:4: error: param \"max-age-days\" value \"-1\" is not a number; \
                 allowed: 0-36500 (days; 0 = unlimited)",
            ]
        );
        assert_eq!((c.max_records, c.max_age_days), (100_000, 0));
    }
}
