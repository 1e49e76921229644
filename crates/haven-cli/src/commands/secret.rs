//! `haven secret set|ls|rm`: the local SSM Parameter Store twin in the state directory, which
//! the twin's tasks, builds and webhooks read. Values are read from stdin and never printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use haven_control::paths::Paths;
use haven_secrets::SecretStore;
use haven_spec::Spec;
use serde::Serialize;

use crate::printer::{Printer, table};

/// The spec and its state directory's parameter store.
fn open(printer: &Printer, spec_path: &Path) -> anyhow::Result<(Spec, SecretStore)> {
    let loaded = super::spec::load_valid(printer, spec_path)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    let store = SecretStore::open(paths.secrets()).context("cannot open the parameter store")?;
    Ok((loaded.spec, store))
}

/// Where the spec (and its buildspec) names each parameter: (parameter, key).
fn uses(spec: &Spec) -> Vec<(String, String)> {
    let mut uses: Vec<(String, String)> = spec
        .service
        .secrets
        .iter()
        .map(|(var, p)| (p.clone(), format!("service.secrets.{var}")))
        .collect();
    for (name, topic) in &spec.notifications.topics {
        if let Some(p) = &topic.webhook_secret {
            uses.push((
                p.clone(),
                format!("notifications.topics.{name}.webhook_secret"),
            ));
        }
    }
    // Only hints for the listing: a buildspec that does not parse is `haven build`'s to report.
    let buildspec = std::fs::read_to_string(spec.path(&spec.build.buildspec))
        .ok()
        .and_then(|text| haven_build::Buildspec::parse(&text).ok());
    if let Some(b) = buildspec {
        for (var, p) in &b.env.parameter_store {
            uses.push((p.clone(), format!("buildspec env.parameter-store.{var}")));
        }
    }
    uses
}

fn used_by(uses: &[(String, String)], parameter: &str) -> Vec<String> {
    uses.iter()
        .filter(|(p, _)| p == parameter)
        .map(|(_, key)| key.clone())
        .collect()
}

/// NAME as the user gave it: a parameter name, or a `service.secrets` variable standing for
/// its parameter (as `haven aws secret set` takes either).
fn parameter_for(spec: &Spec, name: &str) -> String {
    spec.service
        .secrets
        .get(name)
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

/// `haven secret set NAME`: the value from stdin (not echoed on a terminal).
pub fn set(printer: &Printer, spec_path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let (spec, store) = open(printer, spec_path)?;
    let parameter = parameter_for(&spec, name);
    // Checked before the value is asked for, so nobody types a secret for nothing.
    haven_secrets::check_name(&parameter)?;
    let value = printer.read_secret(&parameter)?;
    let version = store
        .set(&parameter, &value)
        .with_context(|| format!("cannot store {parameter}"))?;
    drop(value);
    let uses = uses(&spec);
    let by = used_by(&uses, &parameter);
    printer.status(
        "Stored",
        &format!(
            "{parameter} (SecureString, version {version}){}",
            if by.is_empty() {
                String::new()
            } else {
                format!(" for {}", by.join(", "))
            }
        ),
    );
    if by.is_empty() {
        printer.warn(&format!(
            "the spec does not use {parameter} (service.secrets, a topic's webhook_secret or the buildspec's env.parameter-store)"
        ));
    }
    if printer.json {
        printer.out_json(&serde_json::json!({
            "name": parameter,
            "type": "SecureString",
            "version": version,
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    info: haven_secrets::ParameterInfo,
    used_by: Vec<String>,
}

#[derive(Serialize)]
struct Missing {
    name: String,
    used_by: Vec<String>,
}

/// `haven secret ls`: every parameter's name, version and last change, never a value; and the
/// parameters the spec uses that are not set.
pub fn ls(printer: &Printer, spec_path: &Path) -> anyhow::Result<ExitCode> {
    let (spec, store) = open(printer, spec_path)?;
    let params = store.list().context("cannot list the parameters")?;
    let uses = uses(&spec);
    let mut missing: Vec<Missing> = Vec::new();
    for (p, _) in &uses {
        if !params.iter().any(|i| &i.name == p) && !missing.iter().any(|m| &m.name == p) {
            missing.push(Missing {
                name: p.clone(),
                used_by: used_by(&uses, p),
            });
        }
    }
    let listed: Vec<Listed> = params
        .into_iter()
        .map(|info| Listed {
            used_by: used_by(&uses, &info.name),
            info,
        })
        .collect();
    if printer.json {
        printer.out_json(&serde_json::json!({ "parameters": listed, "missing": missing }))?;
    } else if listed.is_empty() {
        printer.status(
            "Empty",
            "no parameters; `haven secret set NAME` stores one from stdin",
        );
    } else {
        let mut rows = vec![[
            "NAME".to_owned(),
            "TYPE".to_owned(),
            "VERSION".to_owned(),
            "LAST MODIFIED".to_owned(),
            "USED BY".to_owned(),
        ]];
        rows.extend(listed.iter().map(|l| {
            [
                l.info.name.clone(),
                l.info.kind.to_owned(),
                l.info.version.to_string(),
                l.info.last_modified.clone(),
                if l.used_by.is_empty() {
                    "-".to_owned()
                } else {
                    l.used_by.join(", ")
                },
            ]
        }));
        printer.out(&table(&rows));
    }
    if !printer.json {
        for m in &missing {
            printer.warn(&format!(
                "{} is not set ({}); `haven secret set {}` stores it",
                m.name,
                m.used_by.join(", "),
                m.name
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven secret rm NAME`.
pub fn rm(printer: &Printer, spec_path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let (spec, store) = open(printer, spec_path)?;
    let parameter = parameter_for(&spec, name);
    let removed = store
        .remove(&parameter)
        .with_context(|| format!("cannot delete {parameter}"))?;
    if !removed {
        bail!(
            "parameter {parameter} does not exist in {} (ParameterNotFound)",
            store.dir().display()
        );
    }
    printer.status("Deleted", &parameter);
    let by = used_by(&uses(&spec), &parameter);
    if !by.is_empty() {
        printer.warn(&format!(
            "{parameter} is still used by {}: new tasks and builds that need it fail until it is set again",
            by.join(", ")
        ));
    }
    if printer.json {
        printer.out_json(&serde_json::json!({ "name": parameter, "deleted": true }))?;
    }
    Ok(ExitCode::SUCCESS)
}
