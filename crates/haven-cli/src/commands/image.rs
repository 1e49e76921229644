//! `haven image`: the primary region's registry (the ECR twin). `build` packages the current
//! build as an image; `ls`, `inspect`, `tag` and `rm` manage what is there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use haven_registry::{ImageSpec, Registry, TagPolicy};
use haven_spec::Spec;
use haven_twin::Paths;
use serde::Serialize;

use crate::printer::Printer;

/// A region's registry directory in the state directory.
pub fn registry_dir(paths: &Paths, region: &str) -> PathBuf {
    paths.registry(region)
}

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
    let policy = TagPolicy {
        immutable: spec.registry.immutable_tags,
    };
    let registry = Registry::open(&registry_dir(&paths, &region), policy)
        .with_context(|| format!("cannot open the registry of {region}"))?;
    Ok(Opened {
        spec,
        paths,
        region,
        registry,
    })
}

/// The current build's id and artifacts, or advice to make one.
fn current_build(paths: &Paths) -> anyhow::Result<(String, PathBuf)> {
    let id = match std::fs::read_to_string(paths.current_build()) {
        Ok(id) => id.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read `{}`", paths.current_build().display()));
        }
    };
    let artifacts = paths.builds().join(&id);
    if id.is_empty() || !artifacts.is_dir() {
        bail!("there is no build to package; run `haven build` first");
    }
    Ok((id, artifacts))
}

#[derive(Serialize)]
struct BuildReport<'a> {
    region: &'a str,
    build: &'a str,
    #[serde(flatten)]
    image: &'a haven_registry::ImageRef,
}

/// The tag an image of build `id` gets when none is given.
pub fn default_tag(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Packages a build's artifacts as an image: the service's command as entrypoint, its
/// environment plus `env`, its port.
pub fn package(
    spec: &Spec,
    registry: &Registry,
    id: &str,
    artifacts: &Path,
    tag: &str,
    env: Vec<(String, String)>,
) -> anyhow::Result<haven_registry::ImageRef> {
    let service = &spec.service;
    let mut environment: BTreeMap<String, String> = service.environment.clone();
    environment.extend(env);
    let mut image = ImageSpec::new(service.command.clone());
    image.env = environment.into_iter().collect();
    image.exposed_port = Some(service.port);
    image.labels = BTreeMap::from([
        (
            "org.opencontainers.image.revision".to_owned(),
            id.to_owned(),
        ),
        ("haven.build".to_owned(), id.to_owned()),
    ]);
    Ok(registry.build(artifacts, &image, tag)?)
}

/// `haven image build`: the current build as an image in the primary region's registry.
pub fn build(
    printer: &Printer,
    spec: &Path,
    tag: Option<String>,
    env: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    let o = open(printer, spec)?;
    let (id, artifacts) = current_build(&o.paths)?;
    let tag = tag.unwrap_or_else(|| default_tag(&id));
    printer.status(
        "Packaging",
        &format!(
            "build {id} as {}:{tag} in {}",
            o.spec.service.name, o.region
        ),
    );
    let pushed = package(&o.spec, &o.registry, &id, &artifacts, &tag, env)?;
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
    if printer.json {
        printer.out_json(&BuildReport {
            region: &o.region,
            build: &id,
            image: &pushed,
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

/// Opens a region's registry with the spec's tag policy.
pub fn open_registry(spec: &Spec, paths: &Paths, region: &str) -> anyhow::Result<Registry> {
    let policy = TagPolicy {
        immutable: spec.registry.immutable_tags,
    };
    Registry::open(&paths.registry(region), policy)
        .with_context(|| format!("cannot open the registry of {region}"))
}

/// Copies `reference` from the primary's registry to `region`'s (ECR replication, by digest,
/// verified on both sides); returns the digest.
pub fn replicate(
    spec: &Spec,
    paths: &Paths,
    reference: &str,
    region: &str,
) -> anyhow::Result<String> {
    let primary = open_registry(spec, paths, &spec.primary().name)?;
    let digest = primary.resolve(reference).with_context(|| {
        format!("no image `{reference}` in the primary's registry (`haven image ls`)")
    })?;
    if region != spec.primary().name {
        let target = open_registry(spec, paths, region)?;
        primary
            .copy(&digest.to_string(), &target)
            .with_context(|| format!("cannot replicate {reference} to {region}"))?;
    }
    Ok(digest.to_string())
}

/// The image `haven up` starts services on: the current build packaged (once) in the primary's
/// registry and replicated to every secondary's. Returns its digest.
pub fn ensure_initial(printer: &Printer, spec: &Spec, paths: &Paths) -> anyhow::Result<String> {
    let (id, artifacts) = current_build(paths)?;
    let tag = default_tag(&id);
    let primary = open_registry(spec, paths, &spec.primary().name)?;
    let digest = match primary.resolve(&tag) {
        Ok(d) => d.to_string(),
        Err(_) => {
            let pushed = package(spec, &primary, &id, &artifacts, &tag, Vec::new())?;
            printer.status(
                "Pushed",
                &format!("{tag} {} to {}", pushed.digest, spec.primary().name),
            );
            pushed.digest.to_string()
        }
    };
    if spec.registry.replicate {
        for r in spec.secondaries() {
            replicate(spec, paths, &digest, &r.name)?;
        }
    }
    haven_twin::paths::write_atomic(&paths.initial_image(), format!("{digest}\n").as_bytes())?;
    Ok(digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

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
            TagPolicy { immutable: true },
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
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}
