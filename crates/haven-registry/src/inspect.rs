//! Reading images: listing (ECR's `DescribeImages`), inspecting with every blob verified, and
//! the runnable config a task is started from.

use serde::Serialize;

use crate::build::{ImageConfig, ImageSpec};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::manifest::Parsed;
use crate::oci::{
    ANNOTATION_CREATED, ANNOTATION_PUSHED_AT, ConfigFile, Descriptor, Index, Manifest,
};
use crate::tags::{entry_of, tags_of};
use crate::time::{millis, parse_rfc3339, rfc3339_ms};

/// One image, as `haven image ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub digest: Digest,
    /// Sorted; empty for an untagged image.
    pub tags: Vec<String>,
    /// When the image was first pushed anywhere (RFC 3339), kept across replication.
    pub created: Option<String>,
    /// When the image entered this registry (ECR's `imagePushedAt`, RFC 3339 with
    /// milliseconds); a replicated image's is the time of the copy.
    pub pushed_at: String,
    /// Manifest, config and layer bytes.
    pub size: u64,
    pub entrypoint: Vec<String>,
    /// Why the image's manifest or config could not be read (a corrupt blob, say): the
    /// listing still shows it, so that it can be found and removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One image in full, every blob verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDetail {
    pub digest: Digest,
    /// The manifest's media type: an OCI or Docker image manifest, or an index.
    pub media_type: String,
    pub tags: Vec<String>,
    pub created: Option<String>,
    pub pushed_at: String,
    pub size: u64,
    /// For an index: its images, one per platform; `manifest`, `config` and `layers` are those
    /// of the one for this machine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Descriptor>,
    pub manifest: Manifest,
    pub config: ConfigFile,
    pub layers: Vec<Descriptor>,
}

/// An image's manifest and config, read and verified. For an index, `manifest` and `config`
/// are those of the image for this machine.
pub(crate) struct Loaded {
    /// The `index.json` entry (or, for an image reached through an index, its descriptor).
    pub(crate) entry: Descriptor,
    /// An index's images; empty for an image.
    pub(crate) children: Vec<Descriptor>,
    /// The image manifest's own descriptor (`entry` itself unless `entry` is an index).
    pub(crate) image: Descriptor,
    pub(crate) manifest: Manifest,
    pub(crate) config: ConfigFile,
    pub(crate) tags: Vec<String>,
}

impl Loaded {
    pub(crate) fn size(&self) -> u64 {
        let image = if self.image.digest == self.entry.digest {
            0
        } else {
            self.image.size
        };
        self.entry.size
            + image
            + self.manifest.config.size
            + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }

    pub(crate) fn created(&self) -> Option<String> {
        self.entry.annotations.get(ANNOTATION_CREATED).cloned()
    }
}

impl Registry {
    /// Every image, most recently pushed first (untagged ones included, as ECR lists them).
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        let index = self.read_index()?;
        let mut digests: Vec<&Digest> = index.manifests.iter().map(|d| &d.digest).collect();
        digests.sort();
        digests.dedup();
        let mut out: Vec<(u64, ImageInfo)> = digests
            .into_iter()
            .map(|digest| {
                let pushed = entry_of(&index, digest).map_or(0, |d| self.pushed_at(d));
                let info = match self.load_in(&index, digest) {
                    Ok(image) => ImageInfo {
                        digest: digest.clone(),
                        size: image.size(),
                        created: image.created(),
                        pushed_at: rfc3339_ms(pushed),
                        entrypoint: ImageSpec::from_config(&image.config).entrypoint,
                        tags: image.tags,
                        problem: None,
                    },
                    Err(e) => {
                        let entry = entry_of(&index, digest);
                        ImageInfo {
                            digest: digest.clone(),
                            tags: tags_of(&index, digest),
                            created: entry
                                .and_then(|d| d.annotations.get(ANNOTATION_CREATED).cloned()),
                            pushed_at: rfc3339_ms(pushed),
                            size: entry.map_or(0, |d| d.size),
                            entrypoint: Vec::new(),
                            problem: Some(e.to_string()),
                        }
                    }
                };
                (pushed, info)
            })
            .collect();
        // Push times in one registry are distinct; the digest breaks ties in hand-edited ones.
        out.sort_by(|(a_t, a), (b_t, b)| b_t.cmp(a_t).then_with(|| a.digest.cmp(&b.digest)));
        Ok(out.into_iter().map(|(_, info)| info).collect())
    }

    /// An image in full; every blob, layers included, is verified against its digest.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetail> {
        let image = self.load(reference)?;
        for layer in &image.manifest.layers {
            self.verify_blob(layer)?;
        }
        Ok(ImageDetail {
            digest: image.entry.digest.clone(),
            media_type: image.entry.media_type.clone(),
            platforms: image.children.clone(),
            size: image.size(),
            created: image.created(),
            pushed_at: rfc3339_ms(self.pushed_at(&image.entry)),
            layers: image.manifest.layers.clone(),
            tags: image.tags,
            manifest: image.manifest,
            config: image.config,
        })
    }

    /// Re-reads the image `digest` and checks that its manifest, config and every layer hash
    /// to their digests: how a replicated image is verified in the destination.
    /// An index's images are all verified, whatever their platform.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let index = self.read_index()?;
        let entry = self
            .find_manifest(&index, digest)?
            .ok_or_else(|| self.not_found(&digest.to_string()))?;
        for blob in self.reachable(&entry)? {
            self.verify_blob(&blob)?;
        }
        Ok(())
    }

    /// When the image of `entry` entered this registry, in milliseconds since the epoch.
    /// Registries written before push times were recorded fall back to the `created`
    /// annotation, then to the manifest blob's modification time.
    pub(crate) fn pushed_at(&self, entry: &Descriptor) -> u64 {
        [ANNOTATION_PUSHED_AT, ANNOTATION_CREATED]
            .iter()
            .filter_map(|k| entry.annotations.get(*k))
            .find_map(|t| parse_rfc3339(t))
            .or_else(|| {
                let meta = std::fs::metadata(self.blob_path(&entry.digest)).ok()?;
                Some(millis(meta.modified().ok()?))
            })
            .unwrap_or(0)
    }

    /// How to run the image: entrypoint, environment, port, working directory.
    pub fn config(&self, reference: &str) -> Result<ImageConfig> {
        Ok(ImageSpec::from_config(&self.load(reference)?.config))
    }

    pub(crate) fn load(&self, reference: &str) -> Result<Loaded> {
        let index = self.read_index()?;
        let (digest, _) = self.resolve_in(&index, reference)?;
        self.load_in(&index, &digest)
    }

    /// Reads an image's manifest and config (verified) and checks their media types; an index
    /// stands for its image for this machine.
    pub(crate) fn load_in(&self, index: &Index, digest: &Digest) -> Result<Loaded> {
        let entry = self
            .find_manifest(index, digest)?
            .ok_or_else(|| self.not_found(&digest.to_string()))?;
        let (image, manifest, children) = match self.read_parsed(&entry)? {
            Parsed::Image(manifest) => (entry.clone(), manifest, Vec::new()),
            Parsed::Index(list) => {
                let desc = self.host_image(&entry, &list)?;
                // `host_image` picks image manifests only, so this is one.
                let Parsed::Image(manifest) = self.read_parsed(&desc)? else {
                    return Err(self.not_found(&desc.digest.to_string()));
                };
                (desc, manifest, list.manifests)
            }
        };
        let bytes = self.read_blob(&manifest.config)?;
        let config: ConfigFile = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: self.blob_path(&manifest.config.digest),
            what: "image config",
            source,
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::ManifestInvalid {
                reason: format!(
                    "image {} has {} layers but its config lists {} diff_ids",
                    image.digest,
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        Ok(Loaded {
            tags: tags_of(index, &entry.digest),
            entry,
            children,
            image,
            manifest,
            config,
        })
    }
}
