//! The hunt: which applications a call runs, given its variables and the time.

use super::expand::{expand_with, substitute_captures, ApiHook, Lookup};
use super::time::CivilTime;
use super::{Action, Break, Condition, Context, Dialplan, Expression, Extension};

/// A channel as the hunt sees it: its variables (caller-profile fields such as
/// `destination_number` among them), and the inline applications' effect on them.
pub trait Channel: Lookup {
    fn set_variable(&mut self, name: &str, value: &str);
    fn unset_variable(&mut self, name: &str);
}

/// One application to execute, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub application: String,
    /// Captures substituted; `${}` still to expand when it runs.
    pub data: String,
    /// The extension that planned it (for logs and `show channels`).
    pub extension: String,
}

impl Dialplan {
    /// Hunts `context` for a call; None when the context does not exist.
    pub fn hunt(
        &self,
        context: &str,
        channel: &mut dyn Channel,
        now: &CivilTime,
    ) -> Option<Vec<Planned>> {
        self.hunt_with_api(context, channel, now, None)
    }

    /// As [`Dialplan::hunt`], with `${name(args)}` in conditions and inline actions
    /// calling API commands through `api` (see `expand_with`).
    pub fn hunt_with_api(
        &self,
        context: &str,
        channel: &mut dyn Channel,
        now: &CivilTime,
        api: Option<ApiHook<'_>>,
    ) -> Option<Vec<Planned>> {
        let context = self.context(context)?;
        Some(hunt_context(context, channel, now, api))
    }
}

fn hunt_context(
    context: &Context,
    channel: &mut dyn Channel,
    now: &CivilTime,
    api: Option<ApiHook<'_>>,
) -> Vec<Planned> {
    let mut plan = Vec::new();
    for ext in &context.extensions {
        let matched = run_extension(ext, channel, now, api, &mut plan);
        if matched && !ext.continue_on_match {
            break;
        }
    }
    plan
}

/// Evaluates an extension's conditions; true when the last one evaluated held.
fn run_extension(
    ext: &Extension,
    channel: &mut dyn Channel,
    now: &CivilTime,
    api: Option<ApiHook<'_>>,
    plan: &mut Vec<Planned>,
) -> bool {
    let mut proceed = false;
    for cond in &ext.conditions {
        match evaluate(cond, channel, now, api) {
            Some(captures) => {
                proceed = true;
                for a in &cond.actions {
                    let data = substitute_captures(&a.data, &captures);
                    add(a, data, ext, channel, api, plan);
                }
                if matches!(cond.on, Break::OnTrue | Break::Always) {
                    break;
                }
            }
            None => {
                proceed = false;
                for a in &cond.anti_actions {
                    add(a, a.data.clone(), ext, channel, api, plan);
                }
                if matches!(cond.on, Break::OnFalse | Break::Always) {
                    break;
                }
            }
        }
    }
    proceed
}

/// Some(captures) when the condition holds ($0 first; empty without a field test).
fn evaluate(
    cond: &Condition,
    channel: &dyn Channel,
    now: &CivilTime,
    api: Option<ApiHook<'_>>,
) -> Option<Vec<Option<String>>> {
    if !cond.time.iter().all(|t| t.holds(now)) {
        return None;
    }
    let Some(test) = &cond.field else {
        return Some(Vec::new());
    };
    let value = if test.field.contains("${") {
        expand_with(&test.field, channel, api)
    } else {
        channel.variable(&test.field).unwrap_or_default()
    };
    let compiled;
    let regex = match &test.expression {
        Expression::Fixed(r) => r,
        Expression::Template(t) => {
            compiled = match fancy_regex::Regex::new(&expand_with(t, channel, api)) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(expression = %t, error = %e, source = %cond.source, "dialplan expression invalid once expanded; condition treated as false");
                    return None;
                }
            };
            &compiled
        }
    };
    let caps = match regex.captures(&value) {
        Ok(caps) => caps?,
        Err(e) => {
            // Only a backtracking pattern can fail (its step limit): no match.
            tracing::warn!(field = %test.field, error = %e, source = %cond.source, "dialplan expression gave up; condition treated as false");
            return None;
        }
    };
    Some(
        (0..caps.len())
            .map(|i| caps.get(i).map(|m| m.as_str().to_string()))
            .collect(),
    )
}

/// Plans an action, or applies it now when it is inline.
fn add(
    a: &Action,
    data: String,
    ext: &Extension,
    channel: &mut dyn Channel,
    api: Option<ApiHook<'_>>,
    plan: &mut Vec<Planned>,
) {
    if a.inline {
        let value = expand_with(&data, channel, api);
        match a.application.as_str() {
            "set" | "export" => {
                if let Some((name, v)) = value.split_once('=') {
                    channel.set_variable(name.trim(), v);
                }
            }
            "unset" => channel.unset_variable(value.trim()),
            // load.rs only lets set, export and unset be inline.
            _ => {}
        }
        return;
    }
    plan.push(Planned {
        application: a.application.clone(),
        data,
        extension: ext.name.clone(),
    });
}
