//! Manifests as the distribution API moves them: put by tag or digest (validated, every blob
//! they name present, under the tag policy), got back byte for byte with their media type,
//! listed by tag and deleted by digest. Image indexes (and Docker manifest lists) are stored
//! as such; their images are reachable by digest through them.

use std::collections::BTreeSet;
use std::fmt;

use crate::build::host_platform;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::{MAX_JSON_BLOB, Registry};
use crate::media::{Compression, ManifestKind, is_config};
use crate::oci::{ConfigFile, Descriptor, Index, Manifest, Platform};
use crate::tags::{Removed, Tagged, entry_of, validate_tag};

/// How the distribution API names a manifest: a tag or a full digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest when it has an algorithm (`sha256:...`), else a tag; both validated.
    pub fn parse(value: &str) -> Result<Self> {
        if value.contains(':') {
            Ok(Self::Digest(Digest::parse(value)?))
        } else {
            validate_tag(value)?;
            Ok(Self::Tag(value.to_owned()))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

/// A stored manifest, exactly as it was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What putting a manifest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifest {
    pub digest: Digest,
    pub kind: ManifestKind,
    /// The tag set, when the manifest was put by tag.
    pub tagged: Option<Tagged>,
}

/// A manifest document, parsed.
pub(crate) enum Parsed {
    Image(Manifest),
    Index(Index),
}

impl Registry {
    /// Stores a manifest pushed as `reference`, sent with `content_type` (the request's, if
    /// any). Refused, with nothing stored, when it is over the JSON limit, not valid JSON of a
    /// supported kind, names a blob (or, for an index, a manifest) the registry does not have,
    /// does not hash to the digest it was put by, or would move an immutable tag
    /// ([`Error::TagExists`]).
    pub fn put_manifest(
        &self,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<PutManifest> {
        let size = bytes.len() as u64;
        if size > MAX_JSON_BLOB {
            return Err(Error::ManifestTooLarge {
                size,
                limit: MAX_JSON_BLOB,
            });
        }
        let digest = Digest::of(bytes);
        if let Reference::Digest(expected) = reference
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let kind = manifest_kind(content_type, bytes)?;
        let parsed = parse(kind, bytes)?;
        let (referenced, platform) = self.check_references(&parsed)?;
        let mut desc = Descriptor::new(kind.media_type(), digest.clone(), size);
        desc.platform = platform;
        let staged = self.stage(bytes)?;
        let tagged = match reference {
            Reference::Tag(tag) => self
                .publish(vec![staged], desc, std::slice::from_ref(tag), None)?
                .into_iter()
                .next(),
            Reference::Digest(_) => {
                self.publish(vec![staged], desc, &[], None)?;
                None
            }
        };
        let _lock = self.lock()?;
        self.clear_pending(&referenced)?;
        Ok(PutManifest {
            digest,
            kind,
            tagged,
        })
    }

    /// The manifest `reference` names, byte for byte, verified against its digest.
    pub fn get_manifest(&self, reference: &Reference) -> Result<StoredManifest> {
        let index = self.read_index()?;
        let desc = match reference {
            Reference::Tag(tag) => index
                .manifests
                .iter()
                .find(|d| d.tag() == Some(tag))
                .cloned(),
            Reference::Digest(digest) => self.find_manifest(&index, digest)?,
        }
        .ok_or_else(|| self.not_found(&reference.to_string()))?;
        Ok(StoredManifest {
            bytes: self.read_blob(&desc)?,
            digest: desc.digest,
            media_type: desc.media_type,
        })
    }

    /// Every tag, sorted.
    pub fn tags(&self) -> Result<Vec<String>> {
        let index = self.read_index()?;
        let tags: BTreeSet<&str> = index.manifests.iter().filter_map(|d| d.tag()).collect();
        Ok(tags.into_iter().map(str::to_owned).collect())
    }

    /// Deletes the image (or index) `digest` with all its tags, then frees its blobs.
    pub fn delete_manifest(&self, digest: &Digest) -> Result<Removed> {
        self.rm(&digest.to_string())
    }

    /// The descriptor of the manifest `digest`: an `index.json` entry, or an image of an
    /// index there.
    pub(crate) fn find_manifest(
        &self,
        index: &Index,
        digest: &Digest,
    ) -> Result<Option<Descriptor>> {
        if let Some(entry) = entry_of(index, digest) {
            return Ok(Some(entry.clone()));
        }
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Descriptor> = index.manifests.clone();
        while let Some(desc) = stack.pop() {
            if !seen.insert(desc.digest.clone()) || !is_index_type(&desc.media_type) {
                continue;
            }
            let Parsed::Index(children) = self.read_parsed(&desc)? else {
                continue;
            };
            if let Some(child) = children.manifests.iter().find(|c| c.digest == *digest) {
                return Ok(Some(child.clone()));
            }
            stack.extend(children.manifests);
        }
        Ok(None)
    }

    /// Reads a stored manifest of the kind its descriptor says, verified.
    pub(crate) fn read_parsed(&self, desc: &Descriptor) -> Result<Parsed> {
        let kind =
            ManifestKind::parse(&desc.media_type).ok_or_else(|| Error::UnsupportedMediaType {
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
            })?;
        let bytes = self.read_blob(desc)?;
        parse(kind, &bytes).map_err(|e| match e {
            Error::ManifestInvalid { reason } => Error::ManifestInvalid {
                reason: format!("{}: {reason}", desc.digest),
            },
            other => other,
        })
    }

    /// Every blob the manifest `desc` keeps alive, itself last (an index's images and their
    /// blobs before it), each once: what garbage collection keeps and replication copies.
    pub(crate) fn reachable(&self, desc: &Descriptor) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.reach(desc, &mut out, &mut seen)?;
        Ok(out)
    }

    fn reach(
        &self,
        desc: &Descriptor,
        out: &mut Vec<Descriptor>,
        seen: &mut BTreeSet<Digest>,
    ) -> Result<()> {
        if !seen.insert(desc.digest.clone()) {
            return Ok(());
        }
        match self.read_parsed(desc)? {
            Parsed::Image(m) => {
                for blob in std::iter::once(m.config).chain(m.layers) {
                    if seen.insert(blob.digest.clone()) {
                        out.push(blob);
                    }
                }
            }
            Parsed::Index(i) => {
                for child in &i.manifests {
                    self.reach(child, out, seen)?;
                }
            }
        }
        out.push(desc.clone());
        Ok(())
    }

    /// The image an index entry stands for here: the one for the host's platform.
    pub(crate) fn host_image(&self, index_desc: &Descriptor, index: &Index) -> Result<Descriptor> {
        let host = host_platform();
        index
            .manifests
            .iter()
            .filter(|d| !is_index_type(&d.media_type))
            .find(|d| d.platform.as_ref().is_some_and(|p| p.runs_on(&host)))
            .cloned()
            .ok_or_else(|| Error::NoPlatform {
                digest: index_desc.digest.clone(),
                host: host.to_string(),
                available: index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                    .collect(),
            })
    }

    /// Checks that every blob (or image) the manifest names is here with its size, and an
    /// image's config is one: returns the digests named, and an image's platform.
    fn check_references(&self, parsed: &Parsed) -> Result<(Vec<Digest>, Option<Platform>)> {
        let present = |d: &Descriptor| -> Result<()> {
            match self.blob_size(&d.digest)? {
                None => Err(Error::ManifestBlobUnknown {
                    digest: d.digest.clone(),
                }),
                Some(size) if size != d.size => Err(Error::ManifestInvalid {
                    reason: format!("{} is {size} bytes, not {} as it says", d.digest, d.size),
                }),
                Some(_) => Ok(()),
            }
        };
        match parsed {
            Parsed::Image(m) => {
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    present(d)?;
                }
                let config: ConfigFile = serde_json::from_slice(&self.read_blob(&m.config)?)
                    .map_err(|e| Error::ManifestInvalid {
                        reason: format!("config {} is not an image config: {e}", m.config.digest),
                    })?;
                let platform = Platform {
                    architecture: config.architecture,
                    os: config.os,
                    variant: None,
                };
                let digests = std::iter::once(&m.config)
                    .chain(&m.layers)
                    .map(|d| d.digest.clone())
                    .collect();
                Ok((digests, Some(platform)))
            }
            Parsed::Index(i) => {
                for d in &i.manifests {
                    present(d)?;
                }
                Ok((i.manifests.iter().map(|d| d.digest.clone()).collect(), None))
            }
        }
    }
}

fn is_index_type(media_type: &str) -> bool {
    ManifestKind::parse(media_type).is_some_and(ManifestKind::is_index)
}

/// The kind of a pushed manifest: the type it was sent as, which its own `mediaType` (when it
/// has one) must agree with; without either, what its fields say (OCI allows omitting it).
fn manifest_kind(content_type: Option<&str>, bytes: &[u8]) -> Result<ManifestKind> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::ManifestInvalid {
            reason: format!("not JSON: {e}"),
        })?;
    let declared = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        // Generic types say nothing about the document.
        .filter(|c| !matches!(*c, "" | "application/json" | "application/octet-stream"));
    let own = value.get("mediaType").and_then(serde_json::Value::as_str);
    let media_type = match (declared, own) {
        (Some(d), Some(o)) if d != o => {
            return Err(Error::ManifestInvalid {
                reason: format!("sent as `{d}` but its mediaType is `{o}`"),
            });
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) if value.get("manifests").is_some() => return Ok(ManifestKind::OciIndex),
        (None, None) if value.get("config").is_some() => return Ok(ManifestKind::OciImage),
        (None, None) => {
            return Err(Error::ManifestInvalid {
                reason: "neither an image manifest nor an index".to_owned(),
            });
        }
    };
    ManifestKind::parse(media_type).ok_or_else(|| Error::UnknownMediaType {
        media_type: media_type.to_owned(),
    })
}

/// Parses a manifest of a known kind and checks what it names: schema version 2, configs and
/// layers (or an index's images) of media types the registry handles.
pub(crate) fn parse(kind: ManifestKind, bytes: &[u8]) -> Result<Parsed> {
    let invalid = |e: serde_json::Error| Error::ManifestInvalid {
        reason: format!("not a valid {}: {e}", kind.media_type()),
    };
    let unknown = |d: &Descriptor| Error::UnknownMediaType {
        media_type: d.media_type.clone(),
    };
    let (schema, parsed) = if kind.is_index() {
        let index: Index = serde_json::from_slice(bytes).map_err(invalid)?;
        if let Some(d) = index
            .manifests
            .iter()
            .find(|d| ManifestKind::parse(&d.media_type).is_none())
        {
            return Err(unknown(d));
        }
        (index.schema_version, Parsed::Index(index))
    } else {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(invalid)?;
        if !is_config(&manifest.config.media_type) {
            return Err(unknown(&manifest.config));
        }
        if let Some(d) = manifest
            .layers
            .iter()
            .find(|d| Compression::of_layer(&d.media_type).is_none())
        {
            return Err(unknown(d));
        }
        (manifest.schema_version, Parsed::Image(manifest))
    };
    if schema != 2 {
        return Err(Error::ManifestInvalid {
            reason: format!("schemaVersion is {schema}, not 2"),
        });
    }
    Ok(parsed)
}
