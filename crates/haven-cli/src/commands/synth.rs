//! `haven synth`: writes the CloudFormation templates for every region, the global stack, the
//! deploy manifest and the pipeline's files (buildspecs, task definition, image definitions).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::printer::Printer;

#[derive(Serialize)]
struct Summary<'a> {
    out: &'a Path,
    manifest: PathBuf,
    stacks: Vec<StackLine<'a>>,
    files: Vec<&'a Path>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StackLine<'a> {
    name: &'a str,
    kind: haven_cfn::StackKind,
    region: &'a str,
    template: PathBuf,
    bytes: usize,
    requires_s3: bool,
}

pub fn run(printer: &Printer, spec: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let synthesis = haven_cfn::synth(&loaded.spec).context("cannot synthesize the templates")?;
    haven_cfn::write(&synthesis, out)?;
    for w in &synthesis.warnings {
        printer.warn(w);
    }

    let manifest = &synthesis.manifest;
    let large = manifest.stacks.iter().filter(|s| s.requires_s3).count();
    printer.status(
        "Wrote",
        &format!(
            "{} stacks in {} region{}, {} files, to {}{}",
            manifest.stacks.len(),
            manifest.regions.len(),
            if manifest.regions.len() == 1 { "" } else { "s" },
            synthesis.files.len(),
            out.display(),
            if large > 0 {
                format!(" ({large} too large to send inline: the manifest marks them)")
            } else {
                String::new()
            }
        ),
    );
    if printer.json {
        printer.out_json(&Summary {
            out,
            manifest: out.join(haven_cfn::manifest::MANIFEST_FILE),
            stacks: manifest
                .stacks
                .iter()
                .map(|s| StackLine {
                    name: &s.name,
                    kind: s.kind,
                    region: &s.region,
                    template: out.join(&s.template),
                    bytes: s.bytes,
                    requires_s3: s.requires_s3,
                })
                .collect(),
            files: synthesis.files.iter().map(|(p, _)| p.as_path()).collect(),
            warnings: &synthesis.warnings,
        })?;
    }
    Ok(ExitCode::SUCCESS)
}
