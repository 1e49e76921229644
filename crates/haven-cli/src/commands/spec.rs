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
        // TOML is what the user writes, so the resolved spec reads best in it too.
        let value = serde_json::to_value(&loaded.spec)?;
        printer.out(&to_toml(&value));
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders resolved JSON as TOML: scalars first, then tables, then arrays of tables.
fn to_toml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_table(&mut out, "", value);
    out.trim_start().to_owned()
}

fn write_table(out: &mut String, prefix: &str, value: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(map) = value else { return };
    let is_table = |v: &Value| v.is_object();
    let is_table_array =
        |v: &Value| matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object));
    if !prefix.is_empty() {
        out.push_str(&format!("\n[{prefix}]\n"));
    }
    for (k, v) in map {
        if v.is_null() || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&format!("{} = {}\n", key(k), inline(v)));
    }
    for (k, v) in map {
        if is_table(v) {
            write_table(out, &join(prefix, k), v);
        }
    }
    for (k, v) in map {
        if let Value::Array(items) = v {
            if is_table_array(v) {
                for item in items {
                    let name = join(prefix, k);
                    out.push_str(&format!("\n[[{name}]]\n"));
                    let mut inner = String::new();
                    write_table(&mut inner, "", item);
                    // Nested tables of an array element keep the element's prefix.
                    out.push_str(inner.trim_start());
                }
            }
        }
    }
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        key(k)
    } else {
        format!("{prefix}.{}", key(k))
    }
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        format!("{k:?}")
    }
}

fn inline(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            if parts.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
