//! Reading images: listing (ECR's `DescribeImages`), inspecting with every blob verified, and
//! the runnable config a task is started from.

use serde::Serialize;

use crate::build::{ImageConfig, ImageSpec};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::oci::{
    ANNOTATION_CREATED, ConfigFile, Descriptor, Index, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER,
    MEDIA_TYPE_MANIFEST, Manifest,
};
use crate::tags::{entry_of, tags_of};

/// One image, as `haven image ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub digest: Digest,
    /// Sorted; empty for an untagged image.
    pub tags: Vec<String>,
    /// When the image entered the registry (RFC 3339), kept across replication.
    pub created: Option<String>,
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
    pub tags: Vec<String>,
    pub created: Option<String>,
    pub size: u64,
    pub manifest: Manifest,
    pub config: ConfigFile,
    pub layers: Vec<Descriptor>,
}

/// An image's manifest and config, read and verified.
pub(crate) struct Loaded {
    pub(crate) entry: Descriptor,
    pub(crate) manifest: Manifest,
    pub(crate) config: ConfigFile,
    pub(crate) tags: Vec<String>,
}

impl Loaded {
    pub(crate) fn size(&self) -> u64 {
        self.entry.size
            + self.manifest.config.size
            + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }

    pub(crate) fn created(&self) -> Option<String> {
        self.entry.annotations.get(ANNOTATION_CREATED).cloned()
    }
}

impl Registry {
    /// Every image, newest first (untagged ones included, as ECR lists them).
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        let index = self.read_index()?;
        let mut digests: Vec<&Digest> = index.manifests.iter().map(|d| &d.digest).collect();
        digests.sort();
        digests.dedup();
        let mut out: Vec<ImageInfo> = digests
            .into_iter()
            .map(|digest| match self.load_in(&index, digest) {
                Ok(image) => ImageInfo {
                    digest: digest.clone(),
                    size: image.size(),
                    created: image.created(),
                    entrypoint: ImageSpec::from_config(&image.config).entrypoint,
                    tags: image.tags,
                    problem: None,
                },
                Err(e) => {
                    let entry = entry_of(&index, digest);
                    ImageInfo {
                        digest: digest.clone(),
                        tags: tags_of(&index, digest),
                        created: entry.and_then(|d| d.annotations.get(ANNOTATION_CREATED).cloned()),
                        size: entry.map_or(0, |d| d.size),
                        entrypoint: Vec::new(),
                        problem: Some(e.to_string()),
                    }
                }
            })
            .collect();
        // RFC 3339 UTC strings sort as times; the digest breaks ties, so the order is stable.
        out.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.digest.cmp(&b.digest))
        });
        Ok(out)
    }

    /// An image in full; every blob, layers included, is verified against its digest.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetail> {
        let image = self.load(reference)?;
        for layer in &image.manifest.layers {
            self.verify_blob(layer)?;
        }
        Ok(ImageDetail {
            digest: image.entry.digest.clone(),
            size: image.size(),
            created: image.created(),
            layers: image.manifest.layers.clone(),
            tags: image.tags,
            manifest: image.manifest,
            config: image.config,
        })
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

    /// Reads an image's manifest and config (verified) and checks their media types.
    pub(crate) fn load_in(&self, index: &Index, digest: &Digest) -> Result<Loaded> {
        let entry = entry_of(index, digest)
            .cloned()
            .ok_or_else(|| self.not_found(&digest.to_string()))?;
        expect_type(&entry, MEDIA_TYPE_MANIFEST)?;
        let manifest = self.read_manifest(&entry)?;
        expect_type(&manifest.config, MEDIA_TYPE_CONFIG)?;
        for layer in &manifest.layers {
            expect_type(layer, MEDIA_TYPE_LAYER)?;
        }
        let bytes = self.read_blob(&manifest.config)?;
        let config = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: self.blob_path(&manifest.config.digest),
            what: "image config",
            source,
        })?;
        Ok(Loaded {
            tags: tags_of(index, digest),
            entry,
            manifest,
            config,
        })
    }
}

fn expect_type(desc: &Descriptor, media_type: &str) -> Result<()> {
    if desc.media_type == media_type {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
        })
    }
}
