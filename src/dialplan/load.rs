//! Reads `dialplan/*.xml` from the conf dir: `<context name>` → `<extension name
//! continue>` → `<condition field expression break + time attributes>` →
//! `<action application data inline>` / `<anti-action>`. Bad regexes, break values
//! and time ranges are errors with file and line; what we do not support yet (nested
//! conditions, `regex="all|any|xor"`) is a warning, and the condition is skipped.

use std::collections::BTreeMap;
use std::path::Path;

use fancy_regex::Regex;

use super::time::{self, TimeTest};
use super::{Action, Break, Condition, Context, Dialplan, Expression, Extension, FieldTest};
use crate::config::xml::{self, Element};
use crate::config::{ConfigErrors, Diagnostic, Diags};

/// Applications the hunt can apply inline (they only touch variables).
const INLINE_APPS: &[&str] = &["set", "export", "unset"];

/// Loads every `dialplan/*.xml` under `conf_dir`, with the config's `$${globals}`.
/// Returns the dialplan and its warnings; errors fail the load.
pub fn load(
    conf_dir: &Path,
    globals: &BTreeMap<String, String>,
) -> Result<(Dialplan, Vec<Diagnostic>), ConfigErrors> {
    let mut diags = Diags::default();
    let mut vars = globals.clone();
    let mut elements = Vec::new();
    for file in crate::config::xml_files(&conf_dir.join("dialplan"), &mut diags) {
        elements.extend(xml::load_file(&file, &mut vars, &mut diags));
    }
    let dialplan = parse_contexts(&elements, &mut diags);
    if diags.has_errors() {
        return Err(ConfigErrors(diags.0));
    }
    Ok((dialplan, diags.0))
}

/// Builds the dialplan from preprocessed top-level elements.
pub fn parse_contexts(elements: &[Element], diags: &mut Diags) -> Dialplan {
    let mut dialplan = Dialplan::default();
    for el in elements {
        match el.name.as_str() {
            "include" => {
                let inner = parse_contexts(&el.children, diags);
                dialplan.contexts.extend(inner.contexts);
            }
            "context" => {
                let Some(name) = el.attr("name").filter(|n| !n.is_empty()) else {
                    diags.error(&el.source, "<context> without a name");
                    continue;
                };
                let extensions = el
                    .children
                    .iter()
                    .filter_map(|x| extension(x, diags))
                    .collect();
                match dialplan.contexts.iter_mut().find(|c| c.name == name) {
                    // FreeSWITCH merges a context split over several files.
                    Some(existing) => existing.extensions.extend(extensions),
                    None => dialplan.contexts.push(Context {
                        name: name.to_string(),
                        extensions,
                        source: el.source.clone(),
                    }),
                }
            }
            other => diags.warn(
                &el.source,
                format!("unknown element <{other}> in the dialplan (expected <context>)"),
            ),
        }
    }
    dialplan
}

fn extension(el: &Element, diags: &mut Diags) -> Option<Extension> {
    if el.name != "extension" {
        diags.warn(
            &el.source,
            format!(
                "unknown element <{}> in a context (expected <extension>)",
                el.name
            ),
        );
        return None;
    }
    let name = el.attr("name").unwrap_or("").to_string();
    let continue_on_match = match el.attr("continue") {
        None => false,
        Some(v) => crate::config::parse_bool(v).unwrap_or_else(|| {
            diags.error(
                &el.source,
                format!("continue={v:?}: expected true or false"),
            );
            false
        }),
    };
    let mut conditions = Vec::new();
    for c in &el.children {
        match c.name.as_str() {
            "condition" => {
                if let Some(cond) = condition(c, diags) {
                    conditions.push(cond);
                }
            }
            other => diags.warn(
                &c.source,
                format!("unknown element <{other}> in extension {name} (expected <condition>)"),
            ),
        }
    }
    Some(Extension {
        name,
        continue_on_match,
        conditions,
        source: el.source.clone(),
    })
}

fn condition(el: &Element, diags: &mut Diags) -> Option<Condition> {
    let mut ok = true;
    let on = match el.attr("break").unwrap_or("on-false") {
        "on-false" => Break::OnFalse,
        "on-true" => Break::OnTrue,
        "always" => Break::Always,
        "never" => Break::Never,
        other => {
            diags.error(
                &el.source,
                format!("break={other:?}: expected on-false, on-true, always or never"),
            );
            ok = false;
            Break::OnFalse
        }
    };
    // The expression is an attribute, or a child element (FreeSWITCH's form for one
    // that would need escaping: <expression><![CDATA[...]]></expression>).
    let expression = el.attr("expression").or_else(|| {
        el.children
            .iter()
            .find(|c| c.name == "expression")
            .map(|c| c.text.as_str())
    });
    let field = match (el.attr("field"), expression) {
        (Some(field), Some(expr)) if expr.contains("${") => Some(FieldTest {
            field: field.to_string(),
            expression: Expression::Template(expr.to_string()),
        }),
        (Some(field), Some(expr)) => match Regex::new(expr) {
            Ok(regex) => Some(FieldTest {
                field: field.to_string(),
                expression: Expression::Fixed(regex),
            }),
            Err(e) => {
                diags.error(
                    &el.source,
                    format!("expression {expr:?} is not a valid regular expression: {e}"),
                );
                ok = false;
                None
            }
        },
        (Some(field), None) => {
            diags.error(
                &el.source,
                format!("condition on field {field:?} has no expression"),
            );
            ok = false;
            None
        }
        (None, Some(_)) => {
            diags.error(&el.source, "condition has an expression but no field");
            ok = false;
            None
        }
        (None, None) => None,
    };
    let mut times = Vec::new();
    for (name, value) in &el.attrs {
        match name.as_str() {
            "field" | "expression" | "break" => {}
            n if time::ATTRIBUTES.contains(&n) => match TimeTest::parse(n, value) {
                Ok(t) => times.push(t),
                Err(e) => {
                    diags.error(&el.source, format!("{n}: {e}"));
                    ok = false;
                }
            },
            "regex" | "require-nested" | "tz" => {
                diags.warn(
                    &el.source,
                    format!("condition attribute {name} is not supported yet: condition skipped"),
                );
                return None;
            }
            other => diags.warn(
                &el.source,
                format!("unknown condition attribute {other} (ignored)"),
            ),
        }
    }
    let mut actions = Vec::new();
    let mut anti_actions = Vec::new();
    for a in &el.children {
        let list = match a.name.as_str() {
            "action" => &mut actions,
            "anti-action" => &mut anti_actions,
            "expression" => continue,
            "condition" => {
                diags.warn(
                    &a.source,
                    "nested conditions are not supported yet: condition skipped",
                );
                return None;
            }
            other => {
                diags.warn(
                    &a.source,
                    format!("unknown element <{other}> in a condition (ignored)"),
                );
                continue;
            }
        };
        let Some(app) = a.attr("application").filter(|s| !s.is_empty()) else {
            diags.error(&a.source, format!("<{}> without an application", a.name));
            ok = false;
            continue;
        };
        let inline = match a.attr("inline") {
            None => false,
            Some(v) => crate::config::parse_bool(v).unwrap_or(false),
        };
        if inline && !INLINE_APPS.contains(&app) {
            diags.error(
                &a.source,
                format!("{app} cannot run inline (only {})", INLINE_APPS.join(", ")),
            );
            ok = false;
        }
        list.push(Action {
            application: app.to_string(),
            data: a.attr("data").unwrap_or("").to_string(),
            inline,
            source: a.source.clone(),
        });
    }
    ok.then(|| Condition {
        field,
        time: times,
        on,
        actions,
        anti_actions,
        source: el.source.clone(),
    })
}
