//! One build: `buildah bud` of the Dockerfile under a unique name, `buildah push` of the
//! result to a directory (uncompressed OCI), that directory turned into an OCI image layout
//! of one image, and the image removed from the build storage again, whatever happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use haven_fs::WithPath;
use haven_registry::Digest;
use haven_registry::oci::{
    ANNOTATION_REF_NAME, Descriptor, IMAGE_LAYOUT_VERSION, Index, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LAYER, MEDIA_TYPE_MANIFEST, Manifest, Platform,
};

use crate::buildah::{Buildah, Storage, Stream};
use crate::dockerfile::Steps;
use crate::error::{Error, Result};
use crate::lock::StorageLock;

/// What every build's image is named in the build storage, before a random part.
const BUILD_NAME_PREFIX: &str = "localhost/haven-build-";

/// The tag of the one image in a [`Built`] layout.
pub(crate) const BUILT_TAG: &str = "built";

/// What to build, and where buildah keeps its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context: what `COPY` and `ADD` read (`.dockerignore` applies).
    pub context_dir: PathBuf,
    /// The Dockerfile; a relative path is relative to `context_dir`.
    pub dockerfile: PathBuf,
    /// `--build-arg`s, in order.
    pub build_args: Vec<(String, String)>,
    /// The image's platform; `None` is this machine's. `RUN` steps of another architecture
    /// need binfmt emulation; `COPY`-only Dockerfiles build for any.
    pub platform: Option<Platform>,
    /// buildah's storage, e.g. `<state>/buildah`: base images and layers live there between
    /// builds; nothing of a build is left there after it.
    pub storage_root: PathBuf,
    pub labels: BTreeMap<String, String>,
    /// One layer for the whole image (`--squash`). On by default: a layer that deletes a
    /// file of a lower one holds a whiteout, which the ECR twin refuses to unpack, and a
    /// single layer never does.
    pub squash: bool,
    /// The time written into the image (seconds since the epoch): its created time and every
    /// file's modification time (`--timestamp`). `Some(0)` by default, so the same inputs
    /// give the same image digest, as the twin's own packaging does, and a rebuild under an
    /// immutable tag is a no-op rather than a conflict. `None` writes the build's time.
    pub timestamp: Option<u64>,
}

impl BuildRequest {
    /// A request with no build args or labels, for this machine's platform, squashed and
    /// reproducible.
    pub fn new(
        context_dir: impl Into<PathBuf>,
        dockerfile: impl Into<PathBuf>,
        storage_root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            context_dir: context_dir.into(),
            dockerfile: dockerfile.into(),
            build_args: Vec::new(),
            platform: None,
            storage_root: storage_root.into(),
            labels: BTreeMap::new(),
            squash: true,
            timestamp: Some(0),
        }
    }

    /// The Dockerfile's path as given to buildah and named in errors.
    pub fn dockerfile_path(&self) -> PathBuf {
        if self.dockerfile.is_absolute() {
            self.dockerfile.clone()
        } else {
            self.context_dir.join(&self.dockerfile)
        }
    }
}

/// A built image outside the build storage: an OCI image layout holding it alone, removed
/// when this is dropped. [`crate::import`] copies it into a registry.
#[derive(Debug)]
pub struct Built {
    /// Removed when dropped.
    _dir: tempfile::TempDir,
    layout: PathBuf,
    /// The manifest's digest: the image's identity, kept by the import.
    pub digest: Digest,
    /// Manifest, config and layer bytes.
    pub size: u64,
    pub platform: Platform,
}

impl Built {
    /// The OCI image layout holding the image (tagged `built`).
    pub fn layout(&self) -> &Path {
        &self.layout
    }
}

impl Buildah {
    /// Builds `req`'s Dockerfile, giving every line buildah prints to `progress` (the build's
    /// log). Never pulls (`--pull=never`) and runs with no network; removes its working
    /// containers (`--force-rm`) and its image from the build storage, also on failure.
    pub fn build(&self, req: &BuildRequest, mut progress: impl FnMut(&str)) -> Result<Built> {
        let dockerfile = req.dockerfile_path();
        if !req.context_dir.is_dir() {
            return Err(Error::MissingContext {
                path: req.context_dir.clone(),
            });
        }
        let text = match std::fs::read_to_string(&dockerfile) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::MissingDockerfile { path: dockerfile });
            }
            Err(e) => return Err(haven_fs::IoError::new(&dockerfile, e).into()),
        };
        let steps = Steps::parse(&text);
        let storage = Storage::prepare(&req.storage_root)?;
        // Unique per build, so concurrent builds on one storage never touch each other's
        // image, even when both make the very same one.
        let name = format!("{BUILD_NAME_PREFIX}{}", haven_fs::random::id_hex(8));
        let out = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&storage.tmp)
            .with_path(&storage.tmp)?;
        let building = StorageLock::shared(&storage.root)?;
        let built = self
            .bud(req, &dockerfile, &steps, &storage, &name, &mut progress)
            .and_then(|()| self.push(&storage, &name, &out.path().join("dir"), &mut progress));
        drop(building);
        // The image goes whatever happened: a build leaves nothing in the storage.
        let cleaned = self.clean(&storage, &mut progress);
        built?;
        cleaned?;
        into_layout(out)
    }

    /// Removes, while no build runs, every build's image (this one's, and any a killed build
    /// left) and any working container a killed build left.
    fn clean(&self, storage: &Storage, progress: &mut dyn FnMut(&str)) -> Result<()> {
        let _alone = StorageLock::exclusive(&storage.root)?;
        let mut names = Vec::new();
        self.run(
            storage,
            &["images", "--format", "{{.Name}}:{{.Tag}}"],
            &mut |stream, line| {
                if stream == Stream::Stdout && line.starts_with(BUILD_NAME_PREFIX) {
                    names.push(line.trim().to_owned());
                }
            },
        )?
        .check("images")?;
        if !names.is_empty() {
            let mut args = vec!["rmi".to_owned()];
            args.extend(names);
            self.run(storage, &args, &mut |stream, line| {
                if stream == Stream::Stderr {
                    progress(line);
                }
            })?
            .check("rmi")?;
        }
        let mut containers = Vec::new();
        self.run(storage, &["containers", "--quiet"], &mut |stream, line| {
            if stream == Stream::Stdout && !line.trim().is_empty() {
                containers.push(line.trim().to_owned());
            }
        })?
        .check("containers")?;
        if !containers.is_empty() {
            let mut args = vec!["rm".to_owned()];
            args.extend(containers);
            self.run(storage, &args, &mut |_, line| progress(line))?
                .check("rm")?;
        }
        Ok(())
    }

    fn bud(
        &self,
        req: &BuildRequest,
        dockerfile: &Path,
        steps: &Steps,
        storage: &Storage,
        name: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "bud".into(),
            "--isolation".into(),
            "chroot".into(),
            "--pull=never".into(),
            // No cache of intermediate images; `--force-rm` (which needs an explicit
            // `--layers`) removes working containers also when a step fails.
            "--layers=false".into(),
            "--force-rm".into(),
            "--format".into(),
            "oci".into(),
        ];
        if req.squash {
            args.push("--squash".into());
        }
        if let Some(t) = req.timestamp {
            args.push(format!("--timestamp={t}").into());
        }
        if let Some(p) = &req.platform {
            args.push(format!("--platform={}/{}", p.os, p.architecture).into());
        }
        for (k, v) in &req.build_args {
            args.push("--build-arg".into());
            args.push(format!("{k}={v}").into());
        }
        for (k, v) in &req.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}").into());
        }
        args.extend([
            "--tag".into(),
            name.into(),
            "--file".into(),
            dockerfile.into(),
            req.context_dir.clone().into(),
        ]);
        // The step buildah is at, `(stage, step)`: a failure is that step's.
        let mut at: Option<(usize, usize)> = None;
        let run = self.run(storage, &args, &mut |_, line| {
            if let Some(step) = parse_step(line) {
                at = Some(step);
            }
            progress(line);
        })?;
        if run.status.success() {
            return Ok(());
        }
        let message = run.message();
        let instruction = at.and_then(|(stage, step)| steps.get(stage, step));
        if let Some(image) = missing_base(&message) {
            return Err(Error::BaseImageNotLocal {
                dockerfile: dockerfile.to_path_buf(),
                line: instruction
                    .map(|i| i.line)
                    .or_else(|| steps.line_of_from(&image)),
                image,
            });
        }
        Err(Error::Dockerfile {
            dockerfile: dockerfile.to_path_buf(),
            line: instruction.map(|i| i.line),
            instruction: instruction.map(|i| i.text.clone()),
            message: clean_message(&message),
        })
    }

    /// Writes the image to `dir` with buildah's `dir:` transport: the OCI manifest and
    /// config, and the layers uncompressed (the `oci:` transport of buildah 1.28 compresses
    /// them whatever `--disable-compression` says).
    fn push(
        &self,
        storage: &Storage,
        name: &str,
        dir: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let dest = format!("dir:{}", dir.display());
        let args = [
            "push",
            "--disable-compression",
            "--format",
            "oci",
            "--quiet",
            name,
            &dest,
        ];
        self.run(storage, &args, &mut |_, line| progress(line))?
            .check("push")
    }
}

/// `STEP 3/5: …` or `[2/3] STEP 3/5: …` → (stage, step), 1-based.
fn parse_step(line: &str) -> Option<(usize, usize)> {
    let (stage, rest) = match line.strip_prefix('[') {
        Some(rest) => {
            let (stage, rest) = rest.split_once(']')?;
            (stage.split_once('/')?.0.parse().ok()?, rest.trim_start())
        }
        None => (1, line),
    };
    let (numbers, _) = rest.strip_prefix("STEP ")?.split_once(':')?;
    Some((stage, numbers.split_once('/')?.0.parse().ok()?))
}

/// The image a `FROM` named that is not in the storage: buildah's `creating build
/// container: <image>: image not known` (or its pull policy's wording).
fn missing_base(message: &str) -> Option<String> {
    if let Some(image) = message
        .strip_prefix("creating build container: ")
        .and_then(|rest| rest.strip_suffix(": image not known"))
    {
        return Some(image.trim().to_owned());
    }
    let (_, rest) = message.split_once("pull policy is \"never\" but \"")?;
    rest.split_once('"').map(|(image, _)| image.to_owned())
}

/// buildah's message without what names the step again (the error says where) or dumps
/// its parser's internals.
fn clean_message(message: &str) -> String {
    let message = match message.strip_prefix("building at STEP \"") {
        Some(rest) => rest.split_once("\": ").map_or(rest, |(_, m)| m),
        None => message,
    };
    let message = message
        .split_once(" &imagebuilder.Step{")
        .map_or(message, |(m, _)| m);
    message
        .strip_prefix("Build error: ")
        .unwrap_or(message)
        .trim()
        .to_owned()
}

/// Turns buildah's `dir:` output (`<out>/dir`: `manifest.json` and blobs named by their
/// hex digest) into an OCI image layout (`<out>/layout`) holding the image tagged
/// [`BUILT_TAG`]. Blobs are moved, not copied; the registry verifies them on import.
fn into_layout(out: tempfile::TempDir) -> Result<Built> {
    let dir = out.path().join("dir");
    let layout = out.path().join("layout");
    let blobs = layout.join("blobs").join(Digest::ALGORITHM);
    std::fs::create_dir_all(&blobs).with_path(&blobs)?;
    let manifest_path = dir.join("manifest.json");
    let bytes = std::fs::read(&manifest_path).with_path(&manifest_path)?;
    let bad = |reason: String| Error::Output {
        path: manifest_path.clone(),
        reason,
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not an image manifest: {e}")))?;
    if manifest.media_type.as_deref() != Some(MEDIA_TYPE_MANIFEST)
        || manifest.config.media_type != MEDIA_TYPE_CONFIG
    {
        return Err(bad("not an OCI image manifest".to_owned()));
    }
    if let Some(layer) = manifest
        .layers
        .iter()
        .find(|l| l.media_type != MEDIA_TYPE_LAYER)
    {
        return Err(bad(format!(
            "layer {} is `{}`, not an uncompressed OCI layer",
            layer.digest, layer.media_type
        )));
    }
    for desc in manifest.layers.iter().chain([&manifest.config]) {
        let from = dir.join(desc.digest.hex());
        let to = blobs.join(desc.digest.hex());
        // A layer listed twice (two identical layers) was moved already.
        if !to.exists() {
            std::fs::rename(&from, &to).with_path(&from)?;
        }
    }
    let config_path = blobs.join(manifest.config.digest.hex());
    let config_bytes = std::fs::read(&config_path).with_path(&config_path)?;
    // The config's `architecture`, `os` (and `variant`) are the platform's fields.
    let platform: Platform = serde_json::from_slice(&config_bytes).map_err(|e| Error::Output {
        path: config_path.clone(),
        reason: format!("not an image config: {e}"),
    })?;
    let digest = Digest::of(&bytes);
    let manifest_len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    haven_fs::write_atomic(&blobs.join(digest.hex()), &bytes)?;
    let mut entry = Descriptor::new(MEDIA_TYPE_MANIFEST, digest.clone(), manifest_len);
    entry.platform = Some(platform.clone());
    entry
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), BUILT_TAG.to_owned());
    let index = Index {
        manifests: vec![entry],
        ..Index::default()
    };
    let index_bytes = serde_json::to_vec(&index).map_err(|e| Error::Output {
        path: layout.join("index.json"),
        reason: e.to_string(),
    })?;
    haven_fs::write_atomic(&layout.join("index.json"), &index_bytes)?;
    let oci_layout = format!("{{\"imageLayoutVersion\":\"{IMAGE_LAYOUT_VERSION}\"}}");
    haven_fs::write_atomic(&layout.join("oci-layout"), oci_layout.as_bytes())?;
    // buildah's directory is empty of blobs now; what is left is its `version` file.
    std::fs::remove_dir_all(&dir).with_path(&dir)?;
    let size =
        manifest_len + manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
    Ok(Built {
        _dir: out,
        layout,
        digest,
        size,
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_from_buildah_lines() {
        let cases = [
            ("STEP 3/5: RUN make", Some((1, 3))),
            ("[2/3] STEP 4/4: COPY --from=a / /", Some((2, 4))),
            ("STEP x/5: RUN", None),
            ("COMMIT localhost/x", None),
            ("Successfully tagged localhost/x:latest", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_step(line), want, "{line}");
        }
    }

    #[test]
    fn missing_base_images_are_named() {
        let cases = [
            (
                "creating build container: public.ecr.aws/docker/library/rust:1-slim: image not known",
                Some("public.ecr.aws/docker/library/rust:1-slim"),
            ),
            (
                "creating build container: pull policy is \"never\" but \"docker.io/library/rust:latest\" could not be found locally",
                Some("docker.io/library/rust:latest"),
            ),
            ("building at STEP \"RUN x\": exit status 1", None),
        ];
        for (message, want) in cases {
            assert_eq!(missing_base(message).as_deref(), want, "{message}");
        }
    }

    #[test]
    fn messages_lose_the_step_and_parser_dumps() {
        let cases = [
            (
                "building at STEP \"FROBNICATE \": Build error: Unknown instruction: \"FROBNICATE\" &imagebuilder.Step{Env:[]string{}}",
                "Unknown instruction: \"FROBNICATE\"",
            ),
            (
                "building at STEP \"RUN /nope\": exit status 1",
                "exit status 1",
            ),
            ("no FROM statement found", "no FROM statement found"),
        ];
        for (message, want) in cases {
            assert_eq!(clean_message(message), want, "{message}");
        }
    }
}
