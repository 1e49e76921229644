//! `haven build`: runs the spec's buildspec with the CodeBuild twin (through
//! `haven_pipeline::prepare`, which also makes the build `haven up` needs when there is none);
//! with the container runtime, then the Dockerfile's image of it, pushed to the ECR twin.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use haven_control::paths::Paths;
use haven_pipeline::prepare::{Busy, Progress};

use crate::printer::Printer;

/// The preparation's steps on stderr, a spinner while the buildspec runs.
impl Progress for Printer {
    fn step(&self, verb: &str, message: &str) {
        self.status(verb, message);
    }

    fn busy(&self, what: &str) -> Box<dyn Busy> {
        Box::new(self.spinner(what))
    }
}

/// `haven build`: a new build of the working tree, made current.
pub fn run(printer: &Printer, spec_path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec_path)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let id = runtime.block_on(haven_pipeline::prepare::build(
        &loaded.spec,
        &paths,
        printer,
    ))?;
    // With containers, the build's image is the Dockerfile's, made now as the buildspec's
    // `docker build` and `docker push` make it on AWS; the process runtime packages the
    // artifacts when `haven up` or `haven image build` needs an image.
    let decided = haven_runtime::current(&paths, loaded.spec.local.runtime)?;
    let image = match decided.mode {
        haven_control::api::Runtime::Container => Some(haven_pipeline::prepare::ensure_initial(
            &loaded.spec,
            &paths,
            decided.mode,
            printer,
        )?),
        haven_control::api::Runtime::Process => None,
    };
    if printer.json {
        printer.out_json(&serde_json::json!({
            "build": id,
            "artifacts": paths.builds().join(&id),
            "image": image,
        }))?;
    } else {
        printer.out(&id);
    }
    Ok(ExitCode::SUCCESS)
}
