//! Diagnostics that name the file and line, as an operator needs them.

use std::fmt;
use std::path::PathBuf;

/// Where a config element came from; shown as `file:line` (just `file` when line is 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub line: u32,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 means the file (or folder) as a whole.
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// A warning is reported and loading goes on; any error makes `load` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about the configuration; shown as `file:line: warning|error: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub source: Source,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {level}: {}", self.source, self.message)
    }
}

/// The diagnostics of a configuration that failed to load (errors and warnings).
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects diagnostics while loading.
#[derive(Default, Debug)]
pub struct Diags(pub Vec<Diagnostic>);

impl Diags {
    pub fn warn(&mut self, source: &Source, message: impl Into<String>) {
        self.0.push(Diagnostic {
            severity: Severity::Warning,
            source: source.clone(),
            message: message.into(),
        });
    }
    pub fn error(&mut self, source: &Source, message: impl Into<String>) {
        self.0.push(Diagnostic {
            severity: Severity::Error,
            source: source.clone(),
            message: message.into(),
        });
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}
