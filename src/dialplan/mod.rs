//! The XML dialplan, run the way FreeSWITCH's mod_dialplan_xml runs it, and pure:
//! channel variables and the civil time in, the list of applications to execute out.
//!
//! A context's extensions are tried top to bottom. In an extension, conditions are
//! evaluated in order (all must hold, unless `break` says otherwise); a true condition
//! adds its actions, a false one its anti-actions. An extension whose last evaluated
//! condition held is a match, and the hunt stops there unless it says
//! `continue="true"`. Regex captures fill `$1`..`$9` in the actions' data; `${vars}` are
//! left for the executor to expand when the application runs, except in
//! `inline="true"` actions, which the hunt applies at once so that later conditions
//! see them.
//!
//! Files: `load.rs` reads `dialplan/*.xml` (through the config preprocessor, with
//! file:line diagnostics), `hunt.rs` runs it, `expand.rs` is `${}` expansion, `time.rs`
//! the time conditions.

mod expand;
mod hunt;
mod load;
mod time;

#[cfg(test)]
mod tests;

pub use expand::{expand, expand_with, substitute_captures, ApiHook, Lookup};
pub use hunt::{Channel, Planned};
pub use load::{load, parse_contexts};
pub use time::{CivilTime, TimeTest};

use crate::config::Source;
use fancy_regex::Regex;

/// Every context of the dialplan.
#[derive(Debug, Default)]
pub struct Dialplan {
    pub contexts: Vec<Context>,
}

#[derive(Debug)]
pub struct Context {
    pub name: String,
    pub extensions: Vec<Extension>,
    pub source: Source,
}

#[derive(Debug)]
pub struct Extension {
    pub name: String,
    /// `continue="true"`: go on hunting after this extension matched.
    pub continue_on_match: bool,
    pub conditions: Vec<Condition>,
    pub source: Source,
}

#[derive(Debug)]
pub struct Condition {
    /// `field` + `expression`; None: no field test.
    pub field: Option<FieldTest>,
    /// Time attributes; all must hold.
    pub time: Vec<TimeTest>,
    pub on: Break,
    pub actions: Vec<Action>,
    pub anti_actions: Vec<Action>,
    pub source: Source,
}

#[derive(Debug)]
pub struct FieldTest {
    /// A variable or caller-profile field name, or a `${...}` expression.
    pub field: String,
    pub expression: Expression,
}

/// PCRE-like: fancy-regex adds what FreeSWITCH's own dialplans use beyond the regex
/// crate (look-ahead such as `^((?!6000)60\d{2})$`, back-references) and hands the
/// rest to the regex crate's linear-time engine.
#[derive(Debug)]
pub enum Expression {
    /// Compiled once, when the dialplan is read.
    Fixed(Regex),
    /// Holds `${vars}`: FreeSWITCH expands them for each call, then compiles.
    Template(String),
}

/// When a condition ends its extension (`break=`); FreeSWITCH's default is on-false.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Break {
    #[default]
    OnFalse,
    OnTrue,
    Always,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub application: String,
    /// As written: `$1`.. are filled when the condition matches, `${}` at run time.
    pub data: String,
    pub inline: bool,
    pub source: Source,
}

impl Dialplan {
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// How many extensions, for `loopstart check`.
    pub fn extension_count(&self) -> usize {
        self.contexts.iter().map(|c| c.extensions.len()).sum()
    }
}
