//! Builds for the twin: the image a service runs is a build's artifacts.

use anyhow::bail;
use haven_spec::Spec;
use haven_twin::Paths;

use crate::printer::Printer;

/// Makes sure a build exists for the twin to run; builds one if none does.
pub fn ensure_build(printer: &Printer, _spec: &Spec, paths: &Paths) -> anyhow::Result<String> {
    let current = paths.current_build();
    if let Ok(id) = std::fs::read_to_string(&current) {
        let id = id.trim().to_owned();
        if paths.builds().join(&id).is_dir() {
            printer.status("Using", &format!("build {id}"));
            return Ok(id);
        }
    }
    bail!("no build yet")
}
