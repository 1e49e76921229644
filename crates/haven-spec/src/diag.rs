//! Diagnostics: every problem in a spec, located by file, line, column and key path, with a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a diagnostic is: errors make the spec invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable short code, e.g. `unknown-key`, `cidr-overlap`.
    pub code: &'static str,
    pub file: PathBuf,
    /// 1-based line and column; `None` when the problem is about something absent.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key path at fault, e.g. `regions[1].vpc_cidr`.
    pub key: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The source line, for display.
    #[serde(skip)]
    pub snippet: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// A compiler-style report, readable without colour:
    ///
    /// ```text
    /// error[unknown-key]: unknown key `helth_check`
    ///   --> haven.toml:12:10 (service.helth_check)
    ///    |
    /// 12 | [service.helth_check]
    ///    |
    ///    = hint: did you mean `health_check`?
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{level}[{}]: {}", self.code, self.message)?;
        let file = self.file.display();
        let location = match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            _ => file.to_string(),
        };
        if self.key.is_empty() {
            writeln!(f, "  --> {location}")?;
        } else {
            writeln!(f, "  --> {location} ({})", self.key)?;
        }
        if let (Some(line), Some(text)) = (self.line, &self.snippet) {
            let gutter = " ".repeat(line.to_string().len());
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{line} | {text}")?;
            if let Some(col) = self.column {
                writeln!(f, "{gutter} | {}^", " ".repeat(col.saturating_sub(1)))?;
            }
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// All the diagnostics of one load, errors first in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub(crate) fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.severity, a.line.unwrap_or(usize::MAX), a.column, &a.key).cmp(&(
                b.severity,
                b.line.unwrap_or(usize::MAX),
                b.column,
                &b.key,
            ))
        });
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(f, "{errors} error{}", if errors == 1 { "" } else { "s" })?;
        write!(
            f,
            ", {warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

/// Builds diagnostics for one file: turns byte offsets and key paths into lines and columns.
pub(crate) struct Reporter<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub map: &'a crate::source_map::SourceMap,
    pub out: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, text: &'a str, map: &'a crate::source_map::SourceMap) -> Self {
        Self {
            file,
            text,
            map,
            out: Vec::new(),
        }
    }

    /// Reports a problem at a key path; the location is the key's value (or the key itself).
    pub fn at(
        &mut self,
        severity: Severity,
        code: &'static str,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let offset = self.map.value_offset(key);
        self.push(severity, code, key, offset, message.into(), hint);
    }

    pub fn error(&mut self, code: &'static str, key: &str, message: impl Into<String>) {
        self.at(Severity::Error, code, key, message, None);
    }

    pub fn error_hint(
        &mut self,
        code: &'static str,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.at(Severity::Error, code, key, message, Some(hint.into()));
    }

    pub fn warning_hint(
        &mut self,
        code: &'static str,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.at(Severity::Warning, code, key, message, Some(hint.into()));
    }

    pub fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        key: &str,
        offset: Option<usize>,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column, snippet) = match offset {
            Some(offset) => {
                let (line, column) = line_col(self.text, offset);
                let snippet = self.text.lines().nth(line - 1).map(str::to_owned);
                (Some(line), Some(column), snippet)
            }
            None => (None, None, None),
        };
        self.out.push(Diagnostic {
            severity,
            code,
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_owned(),
            message,
            hint,
            snippet,
        });
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 999), (3, 1));
    }
}
