//! The one printer: data on stdout (text or `--json`), progress and diagnostics on stderr,
//! readable without colour, colour decided per stream, `NO_COLOR` honoured; and the one
//! prompt for a secret value.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use serde::Serialize;

pub use crate::cli::ColorChoice;

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    /// Whether text for stdout is painted.
    out_color: bool,
    /// Whether text for stderr is painted.
    err_color: bool,
    quiet: bool,
}

/// Styles for the few words that get colour; the text reads the same without it.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Good,
    Warn,
    Bad,
}

/// Whether one stream gets colour: `auto` paints only a terminal, and not when `NO_COLOR` is
/// set to anything but the empty string (<https://no-color.org>).
fn use_color(choice: ColorChoice, no_color: Option<&std::ffi::OsStr>, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => no_color.is_none_or(|v| v.is_empty()) && terminal,
    }
}

impl Printer {
    pub fn new(json: bool, color: ColorChoice, quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        Self {
            json,
            out_color: use_color(color, no_color.as_deref(), std::io::stdout().is_terminal()),
            err_color: use_color(color, no_color.as_deref(), std::io::stderr().is_terminal()),
            quiet,
        }
    }

    /// `text` in `style`, for stdout ([`Printer::out`]).
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.out_color, style, text)
    }

    /// `text` in `style`, for stderr ([`Printer::err_text`] and the like).
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        paint(self.err_color, style, text)
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
        let verb = self.paint_err(Style::Good, &format!("{verb:>12}"));
        eprintln!("{verb} {message}");
    }

    pub fn warn(&self, message: &str) {
        eprintln!("{}: {message}", self.paint_err(Style::Warn, "warning"));
    }

    pub fn error(&self, message: &str) {
        eprintln!("{}: {message}", self.paint_err(Style::Bad, "error"));
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

    /// The value of the SSM parameter `parameter`, read from stdin: asked for on stderr and
    /// not echoed when stdin is a terminal, else everything up to EOF (one trailing newline
    /// removed). `haven secret set` and `haven aws secret set` both read through here.
    pub fn read_secret(&self, parameter: &str) -> anyhow::Result<String> {
        if std::io::stdin().is_terminal() {
            eprint!("Value for {parameter} (not echoed): ");
            std::io::stderr()
                .flush()
                .context("cannot write to stderr")?;
        }
        haven_aws::secrets::read_value().context("cannot read the value from stdin")
    }
}

fn paint(color: bool, style: Style, text: &str) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match style {
        Style::Good => "32",
        Style::Warn => "33",
        Style::Bad => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
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

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_is_decided_per_stream() {
        use ColorChoice::{Always, Auto, Never};
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        // (choice, NO_COLOR, the stream is a terminal, painted)
        let cases = [
            (Auto, None, true, true),
            // A pipe or a file never gets escapes unless asked for.
            (Auto, None, false, false),
            (Auto, set, true, false),
            (Auto, set, false, false),
            // An empty NO_COLOR is as if unset.
            (Auto, empty, true, true),
            (Auto, empty, false, false),
            (Always, None, false, true),
            (Always, set, false, true),
            (Never, None, true, false),
            (Never, empty, true, false),
        ];
        for (choice, no_color, terminal, painted) in cases {
            assert_eq!(
                use_color(choice, no_color, terminal),
                painted,
                "{choice:?}, NO_COLOR={no_color:?}, terminal: {terminal}"
            );
        }
    }

    #[test]
    fn a_stream_without_colour_gets_plain_text() {
        // stdout piped, stderr a terminal: only stderr's text carries escapes.
        let printer = Printer {
            json: false,
            out_color: false,
            err_color: true,
            quiet: false,
        };
        assert_eq!(printer.paint(Style::Bad, "failed"), "failed");
        assert_eq!(
            printer.paint_err(Style::Bad, "failed"),
            "\x1b[31mfailed\x1b[0m"
        );
    }
}
