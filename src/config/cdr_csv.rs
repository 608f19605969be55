//! `autoload_configs/cdr_csv.conf.xml`, mod_cdr_csv's settings: where CSV exports of
//! the call records go, which legs are written, and the line templates
//! (`"${caller_id_number}","${billsec}",...`). Without the file, FreeSWITCH's own
//! "example" template is used.

use std::path::PathBuf;

use super::diag::{Diags, Source};
use super::values::{boolean, params, unknown};
use super::xml::Element;

/// FreeSWITCH's "example" template (conf/vanilla's cdr_csv.conf.xml).
pub const EXAMPLE_TEMPLATE: &str = r#""${caller_id_name}","${caller_id_number}","${destination_number}","${context}","${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}","${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}""#;

/// Which legs of a call get a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legs {
    A,
    B,
    Both,
}

#[derive(Debug, Clone)]
pub struct CdrCsvConfig {
    /// `log-base`; None: `<data dir>/cdr-csv`.
    pub log_base: Option<PathBuf>,
    pub default_template: String,
    pub legs: Legs,
    pub rotate_on_hup: bool,
    pub master_file_only: bool,
    /// Templates by name, in file order.
    pub templates: Vec<(String, String)>,
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
