//! `haven validate` and `haven show`: load a spec and report on it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use haven_spec::{LoadError, Loaded};
use serde::Serialize;

use crate::printer::{Printer, Style};

/// Loads a spec for a command that needs a valid one: on problems, prints them and fails.
pub fn load_valid(printer: &Printer, path: &Path) -> anyhow::Result<Loaded> {
    checked(printer, path, haven_spec::load(path))
}

/// [`load_valid`] for a spec already loaded: its warnings printed, or its errors and a
/// failure.
pub fn checked(
    printer: &Printer,
    path: &Path,
    loaded: Result<Loaded, LoadError>,
) -> anyhow::Result<Loaded> {
    match loaded {
        Ok(loaded) => {
            for w in loaded.warnings.iter() {
                printer.err_text(&w.to_string());
            }
            Ok(loaded)
        }
        Err(LoadError::Invalid(d)) => {
            printer.err_text(&d.to_string());
            anyhow::bail!("`{}` is not a valid spec", path.display())
        }
        Err(e) => Err(e).context("cannot load the spec"),
    }
}

#[derive(Serialize)]
struct Report<'a> {
    file: &'a Path,
    valid: bool,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [haven_spec::Diagnostic],
}

pub fn validate(printer: &Printer, path: &Path) -> anyhow::Result<ExitCode> {
    let diagnostics = match haven_spec::load(path) {
        Ok(loaded) => loaded.warnings,
        Err(LoadError::Invalid(d)) => d,
        Err(e) => return Err(e).context("cannot validate"),
    };
    let valid = !diagnostics.has_errors();
    if printer.json {
        printer.out_json(&Report {
            file: path,
            valid,
            errors: diagnostics.errors().count(),
            warnings: diagnostics.warnings().count(),
            diagnostics: &diagnostics.0,
        })?;
    } else {
        if !diagnostics.0.is_empty() {
            printer.err_text(&diagnostics.to_string());
        }
        if valid {
            printer.status("Valid", &format!("{}", path.display()));
        } else {
            printer.err_text(
                &printer.paint_err(Style::Bad, &format!("{} is invalid", path.display())),
            );
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn show(printer: &Printer, path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = load_valid(printer, path)?;
    if printer.json {
        printer.out_json(&loaded.spec)?;
    } else {
        // TOML is what the user writes, so the resolved spec reads best as a spec too: one
        // that validates and resolves to the same model.
        let text = loaded
            .spec
            .to_toml()
            .context("cannot write the resolved spec as TOML")?;
        // `out` ends the text with its own newline.
        printer.out(text.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
