//! `haven init`: scaffold a complete, working project from the bundled example service.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::printer::Printer;

/// The example service, embedded so that `haven init` works anywhere.
const FILES: &[(&str, &str)] = &[
    (
        "haven.toml",
        include_str!("../../../../examples/hello/haven.toml"),
    ),
    (
        "Cargo.toml",
        include_str!("../../../../examples/hello/Cargo.toml"),
    ),
    (
        "Cargo.lock",
        include_str!("../../../../examples/hello/Cargo.lock"),
    ),
    (
        "buildspec.yml",
        include_str!("../../../../examples/hello/buildspec.yml"),
    ),
    (
        "Dockerfile",
        include_str!("../../../../examples/hello/Dockerfile"),
    ),
    (
        ".dockerignore",
        include_str!("../../../../examples/hello/.dockerignore"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../../../examples/hello/.cargo/config.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../../examples/hello/.gitignore"),
    ),
    (
        "README.md",
        include_str!("../../../../examples/hello/README.md"),
    ),
    (
        "src/main.rs",
        include_str!("../../../../examples/hello/src/main.rs"),
    ),
    (
        "src/conn.rs",
        include_str!("../../../../examples/hello/src/conn.rs"),
    ),
    (
        "src/http.rs",
        include_str!("../../../../examples/hello/src/http.rs"),
    ),
    (
        "src/metrics.rs",
        include_str!("../../../../examples/hello/src/metrics.rs"),
    ),
    (
        "src/routes.rs",
        include_str!("../../../../examples/hello/src/routes.rs"),
    ),
    (
        "src/signal.rs",
        include_str!("../../../../examples/hello/src/signal.rs"),
    ),
    (
        "tests/http.rs",
        include_str!("../../../../examples/hello/tests/http.rs"),
    ),
];

#[derive(Serialize)]
struct Created<'a> {
    dir: &'a Path,
    files: Vec<&'static str>,
}

pub fn run(printer: &Printer, dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let spec = dir.join("haven.toml");
    if spec.exists() && !force {
        bail!(
            "`{}` already exists; use `haven init --force` to overwrite the project's files",
            spec.display()
        );
    }
    // Check every target first, so that a refusal changes nothing.
    if !force {
        for (name, _) in FILES {
            let path = dir.join(name);
            if path.exists() {
                bail!(
                    "`{}` already exists; use `--force` to overwrite it",
                    path.display()
                );
            }
        }
    }
    for (name, contents) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        printer.status("Created", &path.display().to_string());
    }
    if printer.json {
        printer.out_json(&Created {
            dir,
            files: FILES.iter().map(|(n, _)| *n).collect(),
        })?;
    } else {
        let cd = if dir == Path::new(".") {
            String::new()
        } else {
            format!("cd {} && ", dir.display())
        };
        printer.out(&format!(
            "Created the `hello` project. Next:\n  {cd}haven validate   # check the spec\n  {cd}haven up         # run the architecture on this machine\n  {cd}haven synth      # write it as CloudFormation"
        ));
    }
    Ok(ExitCode::SUCCESS)
}
