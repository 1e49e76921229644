//! The one printer: data on stdout (text or `--json`), progress and diagnostics on stderr,
//! readable without colour, `NO_COLOR` honoured.

use std::io::{IsTerminal, Write};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    color: bool,
    quiet: bool,
}

/// Styles for the few words that get colour; the text reads the same without it.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Good,
    Warn,
    Bad,
}

impl Printer {
    pub fn new(json: bool, color: ColorChoice, quiet: bool) -> Self {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        Self { json, color, quiet }
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Good => "32",
            Style::Warn => "33",
            Style::Bad => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// Data for the user (or a script): stdout.
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) is not an error worth reporting.
        if writeln!(stdout, "{text}").is_err() {
            std::process::exit(0);
        }
    }

    /// Data as pretty JSON on stdout.
    pub fn out_json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.out(&text);
        Ok(())
    }

    /// A cargo-style status line on stderr: `     Created hello/haven.toml`.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let verb = self.paint(Style::Good, &format!("{verb:>12}"));
        eprintln!("{verb} {message}");
    }

    pub fn warn(&self, message: &str) {
        eprintln!("{}: {message}", self.paint(Style::Warn, "warning"));
    }

    pub fn error(&self, message: &str) {
        eprintln!("{}: {message}", self.paint(Style::Bad, "error"));
    }

    /// A spinner on stderr for long work, only when stderr is a terminal (and not `--quiet`);
    /// it disappears when dropped.
    pub fn spinner(&self, message: &str) -> Option<indicatif::ProgressBar> {
        if self.quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(bar)
    }

    /// Free text on stderr (diagnostic reports).
    pub fn err_text(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// Rows as left-aligned columns two spaces apart (the first row is usually a header).
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            row.as_ref()
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
