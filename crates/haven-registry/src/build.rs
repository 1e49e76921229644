//! Building an image from a build's artifacts: one deterministic layer (sorted entries, mtime
//! 0, owner 0:0, permission bits kept, symlinks kept as symlinks), a config holding how to run
//! it, and a manifest. Same artifacts and spec, same digest: a rebuild under an immutable tag
//! is a no-op, not a conflict.

use haven_fs::WithPath;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::oci::{
    ConfigFile, ContainerConfig, Descriptor, History, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER,
    MEDIA_TYPE_MANIFEST, Manifest, Platform, RootFs,
};
use crate::tags::validate_tag;

/// How to run an image: what goes into its config. [`Registry::config`] gives it back from an
/// image, so a task can be started from the image alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The program and its arguments; a relative program is relative to the image's root.
    pub entrypoint: Vec<String>,
    /// In order; written as `KEY=value`.
    pub env: Vec<(String, String)>,
    /// The port the service listens on (`ExposedPorts: {"8080/tcp": {}}`).
    pub exposed_port: Option<u16>,
    pub labels: BTreeMap<String, String>,
    /// The directory the entrypoint runs in, in the image; `/` is the image's root.
    pub working_dir: String,
    /// GOARCH names, as OCI uses them: `amd64`, `arm64`.
    pub architecture: String,
    pub os: String,
    /// Who the entrypoint runs as (the config's `User`: `name`, `uid`, `uid:gid`...); `None`
    /// is root. Haven's own builds leave it unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// The runnable part of an image's config, as [`Registry::config`] returns it.
pub type ImageConfig = ImageSpec;

impl ImageSpec {
    /// A spec for this machine's platform, running `entrypoint` from the image's root.
    pub fn new(entrypoint: Vec<String>) -> Self {
        let platform = host_platform();
        Self {
            entrypoint,
            env: Vec::new(),
            exposed_port: None,
            labels: BTreeMap::new(),
            working_dir: "/".to_owned(),
            architecture: platform.architecture,
            os: platform.os,
            user: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidSpec { reason });
        if self.entrypoint.first().is_none_or(String::is_empty) {
            return invalid("the entrypoint is empty".to_owned());
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return invalid(format!("`{k}` is not a valid environment variable name"));
            }
        }
        if self.labels.keys().any(String::is_empty) {
            return invalid("a label has an empty key".to_owned());
        }
        if !self.working_dir.starts_with('/') {
            return invalid(format!(
                "the working directory `{}` is not absolute",
                self.working_dir
            ));
        }
        Ok(())
    }

    /// The entrypoint must be in the artifacts, and executable, when it is a path in them:
    /// an image that cannot start is better refused at build time than at deploy time.
    fn check_entrypoint(&self, artifacts: &Path) -> Result<()> {
        let Some(program) = self.entrypoint.first() else {
            return Ok(());
        };
        if !program.contains('/') || program.starts_with('/') {
            return Ok(());
        }
        let path = artifacts.join(program);
        let meta = std::fs::metadata(&path).map_err(|_| Error::InvalidSpec {
            reason: format!(
                "the entrypoint `{program}` is not in the artifacts (no `{}`)",
                path.display()
            ),
        })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::InvalidSpec {
                reason: format!(
                    "the entrypoint `{program}` is not an executable file (`{}`)",
                    path.display()
                ),
            });
        }
        Ok(())
    }

    fn to_config(&self, diff_id: Digest) -> ConfigFile {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ConfigFile {
            // No time: it would make every build of the same artifacts a new image.
            created: None,
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            config: ContainerConfig {
                entrypoint: Some(self.entrypoint.clone()),
                cmd: None,
                env: (!env.is_empty()).then_some(env),
                exposed_ports: self
                    .exposed_port
                    .map(|p| BTreeMap::from([(format!("{p}/tcp"), serde_json::Map::new())])),
                labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                working_dir: Some(self.working_dir.clone()),
                user: self.user.clone(),
            },
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: vec![diff_id],
            },
            history: vec![History {
                created_by: Some("haven image build".to_owned()),
                comment: None,
            }],
        }
    }

    /// From an image's config. `Cmd`, which haven never writes, is appended to the entrypoint
    /// as a runtime would.
    pub(crate) fn from_config(cfg: &ConfigFile) -> Self {
        let c = &cfg.config;
        let mut entrypoint = c.entrypoint.clone().unwrap_or_default();
        entrypoint.extend(c.cmd.iter().flatten().cloned());
        let env = c
            .env
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        let exposed_port = c
            .exposed_ports
            .iter()
            .flatten()
            .find_map(|(p, _)| p.split('/').next()?.parse().ok());
        Self {
            entrypoint,
            env,
            exposed_port,
            labels: c.labels.clone().unwrap_or_default(),
            working_dir: c.working_dir.clone().unwrap_or_else(|| "/".to_owned()),
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            // An empty `User` is Docker's way of saying root.
            user: c.user.clone().filter(|u| !u.is_empty()),
        }
    }
}

/// This machine's platform in OCI's (Go's) names: the local twin runs what the build made
/// here, so that is what the image holds.
pub fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    Platform {
        architecture: architecture.to_owned(),
        os: std::env::consts::OS.to_owned(),
        variant: None,
    }
}

/// An image pushed by [`Registry::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// The manifest's digest: the image's identity.
    pub digest: Digest,
    pub tag: String,
    /// Manifest, config and layer bytes.
    pub size: u64,
    /// A mutable tag that moved: the image it pointed to before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Digest>,
    /// False when the tag already pointed to this very image (nothing changed).
    pub changed: bool,
}

impl Registry {
    /// Packages `artifacts` as an image run as `spec` says, and tags it `tag`.
    pub fn build(&self, artifacts: &Path, spec: &ImageSpec, tag: &str) -> Result<ImageRef> {
        validate_tag(tag)?;
        spec.validate()?;
        if !artifacts.is_dir() {
            return Err(haven_fs::IoError::new(
                artifacts,
                io::Error::new(io::ErrorKind::NotFound, "the artifacts are not a directory"),
            )
            .into());
        }
        spec.check_entrypoint(artifacts)?;
        let entries = walk(artifacts)?;
        let layer = self.stage_with(|w, _| write_layer(w, artifacts, &entries))?;
        let layer_desc = Descriptor::new(MEDIA_TYPE_LAYER, layer.digest.clone(), layer.size);
        // Uncompressed, so the layer's digest is also its diff_id.
        let config_bytes = to_json(&spec.to_config(layer.digest.clone()), "image config")?;
        let config = self.stage(&config_bytes[..])?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
            config: Descriptor::new(MEDIA_TYPE_CONFIG, config.digest.clone(), config.size),
            layers: vec![layer_desc],
            annotations: BTreeMap::new(),
        };
        let manifest_bytes = to_json(&manifest, "image manifest")?;
        let staged = self.stage(&manifest_bytes[..])?;
        let mut desc = Descriptor::new(MEDIA_TYPE_MANIFEST, staged.digest.clone(), staged.size);
        desc.platform = Some(Platform {
            architecture: spec.architecture.clone(),
            os: spec.os.clone(),
            variant: None,
        });
        let size = staged.size + config.size + layer.size;
        let digest = desc.digest.clone();
        let tagged = self.publish(vec![layer, config, staged], desc, &[tag.to_owned()], None)?;
        let tagged = tagged.into_iter().next();
        Ok(ImageRef {
            digest,
            tag: tag.to_owned(),
            size,
            moved_from: tagged.as_ref().and_then(|t| t.moved_from.clone()),
            changed: tagged.is_some_and(|t| t.changed),
        })
    }
}

fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>> {
    // Compact and in struct order (maps are BTreeMaps): the bytes, so the digest, are stable.
    serde_json::to_vec(value).map_err(|source| Error::Json {
        path: PathBuf::from("<memory>"),
        what,
        source,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

struct Entry {
    rel: PathBuf,
    kind: Kind,
    mode: u32,
}

/// Every entry under `root`, parents before children, in byte order of their paths.
fn walk(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let read = std::fs::read_dir(&dir).with_path(&dir)?;
        for item in read {
            let item = item.with_path(&dir)?;
            let name = item.file_name();
            let path = item.path();
            if name.as_bytes().starts_with(b".wh.") {
                return Err(Error::UnsupportedFile {
                    path,
                    reason: "names starting with `.wh.` are OCI whiteouts (deletions)",
                });
            }
            let meta = std::fs::symlink_metadata(&path).with_path(&path)?;
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else if ft.is_symlink() {
                Kind::Symlink
            } else {
                return Err(Error::UnsupportedFile {
                    path,
                    reason: "only files, directories and symlinks go into an image",
                });
            };
            let rel = rel.join(&name);
            if kind == Kind::Dir {
                stack.push(rel.clone());
            }
            out.push(Entry {
                rel,
                kind,
                mode: meta.permissions().mode() & 0o7777,
            });
        }
    }
    out.sort_by(|a, b| {
        a.rel
            .as_os_str()
            .as_bytes()
            .cmp(b.rel.as_os_str().as_bytes())
    });
    Ok(out)
}

fn write_layer(w: &mut impl Write, root: &Path, entries: &[Entry]) -> Result<()> {
    let mut builder = tar::Builder::new(w);
    for e in entries {
        let full = root.join(&e.rel);
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_mode(e.mode);
        header.set_size(0);
        let appended = match e.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, &e.rel, io::empty())
            }
            Kind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                let target = std::fs::read_link(&full).with_path(&full)?;
                builder.append_link(&mut header, &e.rel, &target)
            }
            Kind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                let file = File::open(&full).with_path(&full)?;
                let len = file.metadata().with_path(&full)?.len();
                header.set_size(len);
                builder.append_data(&mut header, &e.rel, Exact { file, left: len })
            }
        };
        appended.with_path(&full)?;
    }
    builder
        .into_inner()
        .with_path(root)?
        .flush()
        .with_path(root)?;
    Ok(())
}

/// Exactly `left` bytes of a file: a file that shrinks while it is archived is an error, not
/// a tar whose header lies about its size.
struct Exact {
    file: File,
    left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.file.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
