//! `haven image`: the primary region's registry (the ECR twin). `build` packages the current
//! build as an image (scanned on push, lifecycle rules applied); `ls`, `inspect`, `tag` and
//! `rm` manage what is there; `scan` and `lifecycle` apply the spec's registry policies.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use haven_control::paths::Paths;
use haven_registry::{Expired, LifecycleOutcome, Registry, ScanReport};
use haven_spec::Spec;
use serde::Serialize;

use crate::printer::Printer;

struct Opened {
    spec: Spec,
    paths: Paths,
    region: String,
    registry: Registry,
}

fn open(printer: &Printer, spec_path: &Path) -> anyhow::Result<Opened> {
    let loaded = super::spec::load_valid(printer, spec_path)?;
    let spec = loaded.spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    let region = spec.primary().name.clone();
    let registry = haven_pipeline::image::open_registry(&spec, &paths, &region)
        .with_context(|| format!("cannot open the registry of {region}"))?;
    Ok(Opened {
        spec,
        paths,
        region,
        registry,
    })
}

#[derive(Serialize)]
struct BuildReport<'a> {
    region: &'a str,
    build: &'a str,
    #[serde(flatten)]
    image: &'a haven_registry::ImageRef,
    /// With `registry.scan_on_push`.
    #[serde(skip_serializing_if = "Option::is_none")]
    scan: Option<&'a ScanReport>,
    /// Images the lifecycle rules expired after the push.
    expired: &'a [Expired],
}

/// The tag an image of build `id` gets when none is given.
pub use haven_pipeline::prepare::default_tag;

/// `haven image build`: the current build as an image in the primary region's registry.
pub fn build(
    printer: &Printer,
    spec: &Path,
    tag: Option<String>,
    env: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let (id, artifacts) = haven_pipeline::prepare::require_build(&o.paths)?;
    let tag = tag.unwrap_or_else(|| default_tag(&id));
    // Before the push: a spec whose advisory database does not load changes nothing.
    let scan_opts = if o.spec.registry.scan_on_push {
        Some(haven_pipeline::image::scan_options(
            &o.spec,
            Some(&o.spec.path(&o.spec.build.directory)),
        )?)
    } else {
        None
    };
    let decided = haven_runtime::current(&o.paths, o.spec.local.runtime)?;
    let how = match decided.mode {
        haven_control::api::Runtime::Container => {
            format!("{} with buildah", o.spec.service.dockerfile.display())
        }
        haven_control::api::Runtime::Process => format!("build {id}'s artifacts"),
    };
    printer.status(
        "Packaging",
        &format!(
            "{how} as {}:{tag} in {}",
            o.spec.image_repository(),
            o.region
        ),
    );
    let context = o.spec.path(&o.spec.build.directory);
    let recipe = haven_pipeline::image::Recipe::of(decided.mode, &context, &o.paths);
    let pushed = haven_pipeline::image::package(
        &o.spec,
        &o.registry,
        &id,
        &artifacts,
        &tag,
        env,
        recipe,
        &mut |line| printer.err_text(&format!("  | {line}")),
    )?;
    if !pushed.changed {
        printer.status(
            "Unchanged",
            &format!("{tag} already is this image (same build, same settings)"),
        );
    } else if let Some(old) = &pushed.moved_from {
        printer.status("Moved", &format!("{tag} from {}", old.short()));
    }
    printer.status(
        "Pushed",
        &format!("{tag} {} ({})", pushed.digest, human_size(pushed.size)),
    );
    let digest = pushed.digest.to_string();
    let report = match &scan_opts {
        Some(opts) => {
            let report = o
                .registry
                .scan(&digest, opts)
                .with_context(|| format!("cannot scan {tag} on push"))?;
            printer.status("Scanned", &format!("{tag}: {}", report.summary()));
            let threshold = o.spec.registry.scan_fail_severity;
            if report.fails_at(threshold) {
                printer.warn(&format!(
                    "{tag} has findings at or above {threshold} (registry.scan_fail_severity): \
                     the pipeline's Build stage fails on it; `haven image scan {tag}` lists them"
                ));
            }
            Some(report)
        }
        None => None,
    };
    let outcome = apply_lifecycle(&o.spec, &o.paths, &o.registry, false)?;
    print_expired(printer, &outcome);
    if printer.json {
        printer.out_json(&BuildReport {
            region: &o.region,
            build: &id,
            image: &pushed,
            scan: report.as_ref(),
            expired: &outcome.expired,
        })?;
    } else {
        printer.out(&pushed.digest.to_string());
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven image ls`.
pub fn ls(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let images = o.registry.list()?;
    for image in &images {
        if let Some(problem) = &image.problem {
            printer.warn(&format!("image {}: {problem}", image.digest.short()));
        }
    }
    if printer.json {
        printer.out_json(&images)?;
        return Ok(ExitCode::SUCCESS);
    }
    if images.is_empty() {
        printer.status(
            "Empty",
            &format!(
                "no images in {}'s registry; `haven image build` makes one",
                o.region
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "TAGS".to_owned(),
        "DIGEST".to_owned(),
        "CREATED".to_owned(),
        "SIZE".to_owned(),
        "ENTRYPOINT".to_owned(),
    ]];
    for image in &images {
        rows.push([
            if image.tags.is_empty() {
                "<untagged>".to_owned()
            } else {
                image.tags.join(",")
            },
            image.digest.short().to_owned(),
            image.created.clone().unwrap_or_else(|| "-".to_owned()),
            human_size(image.size),
            // Plain text: colour codes would throw the column widths off.
            if image.problem.is_some() {
                "(unreadable, see above)".to_owned()
            } else {
                image.entrypoint.join(" ")
            },
        ]);
    }
    printer.out(&crate::printer::table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `haven image inspect REF`: every blob is verified first.
pub fn inspect(printer: &Printer, spec: &Path, reference: &str) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let detail = o.registry.inspect(reference)?;
    if printer.json {
        printer.out_json(&detail)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = &detail.config.config;
    let mut rows: Vec<[String; 2]> = vec![
        ["Digest".into(), detail.digest.to_string()],
        ["Tags".into(), detail.tags.join(", ")],
        ["Created".into(), detail.created.clone().unwrap_or_default()],
        ["Size".into(), human_size(detail.size)],
        [
            "Platform".into(),
            format!("{}/{}", detail.config.os, detail.config.architecture),
        ],
        [
            "Entrypoint".into(),
            c.entrypoint.clone().unwrap_or_default().join(" "),
        ],
        [
            "WorkingDir".into(),
            c.working_dir.clone().unwrap_or_default(),
        ],
    ];
    let mut list = |name: &str, items: Vec<String>| {
        for (i, item) in items.into_iter().enumerate() {
            let label = if i == 0 {
                name.to_owned()
            } else {
                String::new()
            };
            rows.push([label, item]);
        }
    };
    list("Env", c.env.clone().unwrap_or_default());
    list(
        "Ports",
        c.exposed_ports
            .iter()
            .flatten()
            .map(|(p, _)| p.clone())
            .collect(),
    );
    list(
        "Labels",
        c.labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    );
    list(
        "Layers",
        detail
            .layers
            .iter()
            .map(|l| format!("{} {} {}", l.digest, human_size(l.size), l.media_type))
            .collect(),
    );
    rows.push([
        "Verified".into(),
        "manifest, config and layers match their digests".into(),
    ]);
    printer.out(&crate::printer::table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `haven image tag REF TAG`.
pub fn tag(printer: &Printer, spec: &Path, reference: &str, tag: &str) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let tagged = o.registry.tag(reference, tag)?;
    if !tagged.changed {
        printer.status("Unchanged", &format!("{tag} already is {}", tagged.digest));
    } else if let Some(old) = &tagged.moved_from {
        printer.status("Moved", &format!("{tag} from {}", old.short()));
    }
    if printer.json {
        printer.out_json(&tagged)?;
    } else {
        printer.out(&format!("{} {}", tagged.tag, tagged.digest));
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven image rm REF`: a tag (the image goes with its last tag, as in ECR) or a digest (the
/// image and all its tags); blobs no image uses any more are deleted.
pub fn rm(printer: &Printer, spec: &Path, reference: &str) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let removed = o.registry.rm(reference)?;
    if let Some(why) = &removed.gc_skipped {
        printer.warn(&format!("unused blobs were not deleted: {why}"));
    }
    if printer.json {
        printer.out_json(&removed)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in &removed.tags {
        printer.out(&format!("Untagged: {t}"));
    }
    if removed.image_deleted {
        printer.out(&format!("Deleted: {}", removed.digest));
        printer.status(
            "Freed",
            &format!(
                "{} blob(s), {}",
                removed.freed.len(),
                human_size(removed.bytes_freed)
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven image scan REF`: scans now (ECR's StartImageScan) and prints the findings; exit 1
/// when one is at or above `registry.scan_fail_severity`.
pub fn scan(printer: &Printer, spec: &Path, reference: &str) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let opts =
        haven_pipeline::image::scan_options(&o.spec, Some(&o.spec.path(&o.spec.build.directory)))?;
    let report = o
        .registry
        .scan(reference, &opts)
        .with_context(|| format!("cannot scan `{reference}`"))?;
    let threshold = o.spec.registry.scan_fail_severity;
    let failed = report.fails_at(threshold);
    let lockfiles = report.lockfiles.len();
    printer.status(
        "Scanned",
        &format!(
            "{reference} ({}): {} file(s), {lockfiles} lock file(s) with {} package(s)",
            report.digest.short(),
            report.files_scanned,
            report.packages
        ),
    );
    match &report.advisory_db {
        Some(db) => printer.status(
            "Checked",
            &format!(
                "dependencies against {} advisories in {db}",
                report.advisories
            ),
        ),
        None => printer
            .warn("no advisory database (registry.advisory_db): dependencies were not checked"),
    }
    for note in &report.notes {
        printer.warn(note);
    }
    if printer.json {
        #[derive(Serialize)]
        struct Output<'a> {
            #[serde(flatten)]
            report: &'a ScanReport,
            threshold: haven_registry::Severity,
            failed: bool,
        }
        printer.out_json(&Output {
            report: &report,
            threshold,
            failed,
        })?;
    } else if !report.findings.is_empty() {
        let mut rows = vec![[
            "SEVERITY".to_owned(),
            "ID".to_owned(),
            "PACKAGE".to_owned(),
            "LOCATION".to_owned(),
            "TITLE".to_owned(),
        ]];
        for f in &report.findings {
            let package = match (&f.package, &f.version) {
                (Some(p), Some(v)) => format!("{p} {v}"),
                _ => "-".to_owned(),
            };
            rows.push([
                f.severity.to_string(),
                f.id.clone(),
                package,
                f.location.clone(),
                f.title.clone(),
            ]);
        }
        printer.out(&crate::printer::table(&rows));
    }
    if failed {
        printer.error(&format!(
            "findings at or above {threshold} (registry.scan_fail_severity), {}: the \
             pipeline's Build stage fails on this image",
            report.summary()
        ));
        return Ok(ExitCode::from(1));
    }
    let verdict = if threshold == haven_registry::Severity::None {
        "the scan gate is off (registry.scan_fail_severity = \"none\")".to_owned()
    } else {
        format!(
            "{}, none at or above {threshold} (registry.scan_fail_severity)",
            report.summary()
        )
    };
    printer.status("Passed", &verdict);
    Ok(ExitCode::SUCCESS)
}

/// `haven image lifecycle [--dry-run]`: the spec's lifecycle rules on the primary's registry.
pub fn lifecycle(printer: &Printer, spec: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let outcome = apply_lifecycle(&o.spec, &o.paths, &o.registry, dry_run)?;
    if let Some(why) = &outcome.gc_skipped {
        printer.warn(&format!("unused blobs were not deleted: {why}"));
    }
    if printer.json {
        printer.out_json(&outcome)?;
    } else if !(outcome.expired.is_empty() && outcome.kept_in_use.is_empty()) {
        let action = if dry_run { "would expire" } else { "expired" };
        let mut rows = vec![[
            "ACTION".to_owned(),
            "TAGS".to_owned(),
            "DIGEST".to_owned(),
            "PUSHED".to_owned(),
            "RULE".to_owned(),
        ]];
        let lists = [
            (action, &outcome.expired),
            ("kept: in use", &outcome.kept_in_use),
        ];
        for (what, list) in lists {
            for e in list {
                rows.push([
                    what.to_owned(),
                    tags_cell(&e.tags),
                    e.digest.short().to_owned(),
                    e.pushed_at.clone(),
                    format!("{} ({})", e.priority, e.rule),
                ]);
            }
        }
        printer.out(&crate::printer::table(&rows));
    }
    let n = outcome.expired.len();
    if dry_run {
        printer.status(
            "Dry run",
            &format!("{n} image(s) would expire in {}; nothing changed", o.region),
        );
    } else if n == 0 {
        printer.status(
            "Kept",
            &format!("every image in {}: no lifecycle rule expires any", o.region),
        );
    } else {
        printer.status(
            "Expired",
            &format!(
                "{n} image(s) in {}, freed {} blob(s), {}",
                o.region,
                outcome.freed.len(),
                human_size(outcome.bytes_freed)
            ),
        );
    }
    if !outcome.kept_in_use.is_empty() {
        printer.status(
            "Protected",
            &format!(
                "{} image(s) a rule selects but the twin runs",
                outcome.kept_in_use.len()
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn tags_cell(tags: &[String]) -> String {
    if tags.is_empty() {
        "<untagged>".to_owned()
    } else {
        tags.join(",")
    }
}

/// One status line per image a push's lifecycle run expired.
fn print_expired(printer: &Printer, outcome: &LifecycleOutcome) {
    for e in &outcome.expired {
        printer.status(
            "Expired",
            &format!(
                "{} {} (lifecycle rule {}: {})",
                tags_cell(&e.tags),
                e.digest.short(),
                e.priority,
                e.rule
            ),
        );
    }
    if let Some(why) = &outcome.gc_skipped {
        printer.warn(&format!("unused blobs were not deleted: {why}"));
    }
}

/// Applies the spec's lifecycle rules to `registry` now, never expiring an image in use.
fn apply_lifecycle(
    spec: &Spec,
    paths: &Paths,
    registry: &Registry,
    dry_run: bool,
) -> anyhow::Result<LifecycleOutcome> {
    haven_pipeline::image::apply_lifecycle(spec, paths, registry, dry_run)
        .context("cannot apply the lifecycle rules (registry.lifecycle)")
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Display only: the f64 rounding cannot matter at one decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;
    use crate::printer::ColorChoice;

    /// The example's spec with a fake current build, in a temp dir.
    fn project() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
        for f in ["haven.toml", "buildspec.yml"] {
            std::fs::copy(example.join(f), tmp.path().join(f)).unwrap();
        }
        let builds = tmp.path().join(".haven/builds");
        let bin = builds.join("2a10ed4c-325e-4f80-aeaf-7f8cad7afa1e/target/release");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("hello"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(bin.join("hello"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(
            builds.join("current"),
            "2a10ed4c-325e-4f80-aeaf-7f8cad7afa1e\n",
        )
        .unwrap();
        let spec = tmp.path().join("haven.toml");
        // Packaging the fake build's artifacts: the process runtime's recipe.
        let text = std::fs::read_to_string(&spec).unwrap();
        std::fs::write(
            &spec,
            text.replace("runtime = \"auto\" ", "runtime = \"process\" "),
        )
        .unwrap();
        (tmp, spec)
    }

    #[test]
    fn the_commands_work_on_the_primary_registry() {
        let (tmp, spec) = project();
        let p = Printer::new(true, ColorChoice::Never, true);
        build(&p, &spec, None, vec![("EXTRA".into(), "1".into())]).unwrap();
        // Rebuilding the same build is a no-op, even with immutable tags.
        build(&p, &spec, None, vec![("EXTRA".into(), "1".into())]).unwrap();
        let reg = Registry::open(
            &tmp.path().join(".haven/regions/us-east-1/registry"),
            haven_registry::TagPolicy { immutable: true },
        )
        .unwrap();
        let config = reg.config("2a10ed4c-325").unwrap();
        assert_eq!(config.entrypoint, ["target/release/hello"]);
        assert_eq!(config.exposed_port, Some(8080));
        assert!(config.env.contains(&("EXTRA".into(), "1".into())));
        assert_eq!(
            config.labels["haven.build"],
            "2a10ed4c-325e-4f80-aeaf-7f8cad7afa1e"
        );
        // Another image under the same tag is refused: the example's tags are immutable.
        let err = build(&p, &spec, None, vec![]).unwrap_err().to_string();
        assert!(err.contains("ImageTagAlreadyExistsException"), "{err}");

        let text = Printer::new(false, ColorChoice::Never, true);
        for printer in [&p, &text] {
            ls(printer, &spec).unwrap();
            inspect(printer, &spec, "2a10ed4c-325").unwrap();
        }
        tag(&p, &spec, "2a10ed4c-325", "v1").unwrap();
        for printer in [&p, &text] {
            // A clean image passes the example's `high` threshold; the example's rules keep 30.
            assert_eq!(scan(printer, &spec, "v1").unwrap(), ExitCode::SUCCESS);
            lifecycle(printer, &spec, true).unwrap();
        }
        assert!(
            reg.scan_findings("v1")
                .unwrap()
                .unwrap()
                .findings
                .is_empty()
        );
        rm(&p, &spec, "2a10ed4c-325").unwrap();
        assert_eq!(reg.list().unwrap()[0].tags, ["v1"]);
        rm(&text, &spec, "v1").unwrap();
        assert!(reg.list().unwrap().is_empty());
    }

    #[test]
    fn without_a_build_it_says_to_run_haven_build() {
        let (tmp, spec) = project();
        std::fs::remove_file(tmp.path().join(".haven/builds/current")).unwrap();
        let p = Printer::new(false, ColorChoice::Never, true);
        let err = build(&p, &spec, None, vec![]).unwrap_err().to_string();
        assert!(err.contains("run `haven build`"), "{err}");
    }

    #[test]
    fn the_spec_policies_are_the_registry_types() {
        let (_tmp, spec) = project();
        let spec = haven_spec::load(&spec).unwrap().spec;
        assert_eq!(
            spec.registry
                .lifecycle
                .iter()
                .map(|r| (r.priority, r.tag_status, r.count_type, r.count))
                .collect::<Vec<_>>(),
            [
                (
                    1,
                    haven_registry::TagStatus::Untagged,
                    haven_registry::CountType::SinceImagePushed,
                    14
                ),
                (
                    2,
                    haven_registry::TagStatus::Any,
                    haven_registry::CountType::ImageCountMoreThan,
                    30
                ),
            ]
        );
        assert_eq!(
            spec.registry.scan_fail_severity,
            haven_registry::Severity::High
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}

/// One region's registry API, as `haven image login` prints it.
#[derive(Serialize)]
struct Login {
    region: String,
    /// `host:port`, as a registry is named in an image reference.
    registry: String,
    /// The service's repository, as an image reference names it (`registry/repository:tag`).
    repository: String,
    username: &'static str,
    password: String,
}

/// `haven image login`: the running twin's registry addresses and ECR-style credentials.
pub fn login(
    printer: &Printer,
    spec: &Path,
    region: Option<&str>,
    password_only: bool,
) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let spec = loaded.spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    if let Some(r) = region
        && !spec.regions.iter().any(|known| known.name == r)
    {
        anyhow::bail!("the spec has no region `{r}` (--region)");
    }
    // The registries are the running twin's: without it there is nothing to log in to.
    haven_control::client::Client::connect(&paths)?;
    let ports = haven_control::ports::Ports::read(&paths)?
        .context("the twin has no ports.json; start it with `haven up`")?;
    let password = haven_control::paths::registry_token(&paths)?;
    if password_only {
        printer.out(&password);
        return Ok(ExitCode::SUCCESS);
    }
    let mut logins = Vec::new();
    for r in spec
        .regions
        .iter()
        .filter(|r| region.is_none_or(|w| w == r.name))
    {
        let addr = ports.registry(&r.name).with_context(|| {
            format!(
                "the running twin has no registry API for {} (started by an older haven: `haven down` and `haven up`)",
                r.name
            )
        })?;
        logins.push(Login {
            region: r.name.clone(),
            registry: addr.to_string(),
            repository: format!("{addr}/{}", spec.image_repository()),
            username: "AWS",
            password: password.clone(),
        });
    }
    if printer.json {
        printer.out_json(&logins)?;
        return Ok(ExitCode::SUCCESS);
    }
    for l in &logins {
        printer.out(&format!(
            "{}: {} (user {}, password from `haven image login --password`)",
            l.region, l.repository, l.username
        ));
    }
    if let Some(first) = logins.first() {
        // Plain HTTP on loopback: docker allows it for 127.0.0.0/8; podman, buildah and skopeo
        // need TLS verification turned off for it.
        printer.out("");
        printer.out(&format!(
            "  haven image login --password | podman login --tls-verify=false -u AWS --password-stdin {}",
            first.registry
        ));
        printer.out(&format!(
            "  haven image login --password | docker login -u AWS --password-stdin {}",
            first.registry
        ));
        printer.out(&format!(
            "  skopeo copy --dest-tls-verify=false --dest-creds AWS:\"$(haven image login --password)\" oci:DIR:TAG docker://{}:TAG",
            first.repository
        ));
    }
    Ok(ExitCode::SUCCESS)
}
