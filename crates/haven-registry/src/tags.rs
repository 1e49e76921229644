//! References and tags, with ECR's semantics: a reference is a tag, a digest or a unique
//! digest prefix; immutable tags never move (`ImageTagAlreadyExistsException`); a tag moved
//! away leaves its old image untagged, not deleted; deleting an image's last tag deletes the
//! image; deleting an image frees the blobs nothing else refers to.

use haven_fs::WithPath;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::digest::{Digest, is_hex};
use crate::error::{Error, Result};
use crate::layout::{Registry, Staged};
use crate::manifest::Parsed;
use crate::media::ManifestKind;
use crate::oci::{
    ANNOTATION_CREATED, ANNOTATION_PUSHED_AT, ANNOTATION_REF_NAME, Descriptor, Index,
};
use crate::time::{millis, now_rfc3339, parse_rfc3339, rfc3339_ms};

/// The shortest digest prefix accepted as a reference, as with git: shorter ones would make
/// a mistyped tag name an image by accident.
pub const MIN_PREFIX: usize = 4;

/// What setting a tag did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tagged {
    pub tag: String,
    pub digest: Digest,
    /// The image the tag pointed to before (a mutable tag that moved); it is now untagged
    /// unless it has other tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Digest>,
    /// False when the tag already pointed to this image (a no-op).
    pub changed: bool,
}

/// What [`Registry::rm`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub digest: Digest,
    /// The tags removed.
    pub tags: Vec<String>,
    /// Whether the image itself is gone (its last tag removed, or removed by digest).
    pub image_deleted: bool,
    /// Blobs no image refers to any more, deleted.
    pub freed: Vec<Digest>,
    pub bytes_freed: u64,
    /// Why garbage was not collected, when it was not (the removal itself stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc_skipped: Option<String>,
}

/// What a garbage collection freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    pub freed: Vec<Digest>,
    pub bytes: u64,
}

/// Checks a tag against the OCI distribution grammar, `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidTag {
            tag: tag.to_owned(),
            reason,
        })
    };
    let Some(first) = tag.bytes().next() else {
        return invalid("it is empty");
    };
    if tag.len() > 128 {
        return invalid("it is longer than 128 characters");
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return invalid("it must start with a letter, digit or `_`");
    }
    if !tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return invalid("only letters, digits, `_`, `.` and `-` are allowed");
    }
    Ok(())
}

impl Registry {
    /// The image a reference names: a tag first, else a full digest or a unique prefix of one
    /// (`sha256:` optional, at least [`MIN_PREFIX`] hex digits).
    pub fn resolve(&self, reference: &str) -> Result<Digest> {
        let index = self.read_index()?;
        Ok(self.resolve_in(&index, reference)?.0)
    }

    /// The image's digest and, when the reference is a tag, the tag.
    pub(crate) fn resolve_in(
        &self,
        index: &Index,
        reference: &str,
    ) -> Result<(Digest, Option<String>)> {
        if let Some(d) = index.manifests.iter().find(|d| d.tag() == Some(reference)) {
            return Ok((d.digest.clone(), Some(reference.to_owned())));
        }
        let explicit = reference.strip_prefix("sha256:");
        let hex = explicit.unwrap_or(reference);
        let is_prefix = is_hex(hex) && (MIN_PREFIX..=64).contains(&hex.len());
        if !is_prefix {
            return Err(if explicit.is_some() {
                Error::InvalidDigest {
                    value: reference.to_owned(),
                }
            } else {
                self.not_found(reference)
            });
        }
        let candidates: BTreeSet<&Digest> = index
            .manifests
            .iter()
            .map(|d| &d.digest)
            .filter(|d| d.hex().starts_with(hex))
            .collect();
        let mut it = candidates.iter();
        match (it.next(), it.next()) {
            (Some(d), None) => Ok(((*d).clone(), None)),
            // A full digest may name an image of an index.
            (None, _) if hex.len() == 64 => {
                let digest = Digest::parse(&format!("sha256:{hex}"))?;
                match self.find_manifest(index, &digest)? {
                    Some(_) => Ok((digest, None)),
                    None => Err(self.not_found(reference)),
                }
            }
            (None, _) => Err(self.not_found(reference)),
            (Some(_), Some(_)) => Err(Error::Ambiguous {
                reference: reference.to_owned(),
                candidates: candidates.into_iter().cloned().collect(),
            }),
        }
    }

    pub(crate) fn not_found(&self, reference: &str) -> Error {
        Error::NotFound {
            reference: reference.to_owned(),
            registry: self.root().to_path_buf(),
        }
    }

    /// Points `new_tag` at the image `reference` names. With immutable tags, moving an
    /// existing tag to another image is refused; tagging the same image again is a no-op.
    pub fn tag(&self, reference: &str, new_tag: &str) -> Result<Tagged> {
        validate_tag(new_tag)?;
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let (digest, _) = self.resolve_in(&index, reference)?;
        self.check_policy(&index, new_tag, &digest)?;
        let entry = entry_of(&index, &digest)
            .cloned()
            .ok_or_else(|| self.not_found(reference))?;
        let tagged = set_tag(&mut index, &entry, new_tag);
        if tagged.changed {
            self.write_index(&index)?;
        }
        Ok(tagged)
    }

    /// Removes a tag but keeps its image (untagged, if that was its last tag), as ECR keeps
    /// untagged images for lifecycle rules to expire.
    pub fn untag(&self, tag: &str) -> Result<Digest> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let pos = index
            .manifests
            .iter()
            .position(|d| d.tag() == Some(tag))
            .ok_or_else(|| Error::NotATag {
                reference: tag.to_owned(),
            })?;
        let removed = index.manifests.remove(pos);
        keep_untagged(&mut index, &removed);
        self.write_index(&index)?;
        Ok(removed.digest)
    }

    /// Deletes by tag (ECR's `BatchDeleteImage`: the tag goes, and the image with its last
    /// tag) or by digest (the image and all its tags), then frees unreferenced blobs.
    pub fn rm(&self, reference: &str) -> Result<Removed> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let (digest, tag) = self.resolve_in(&index, reference)?;
        let before = index.manifests.len();
        let mut tags = Vec::new();
        index.manifests.retain(|d| {
            let hit = d.digest == digest && (tag.is_none() || d.tag() == tag.as_deref());
            if hit && let Some(t) = d.tag() {
                tags.push(t.to_owned());
            }
            !hit
        });
        debug_assert!(index.manifests.len() < before);
        let image_deleted = !index.manifests.iter().any(|d| d.digest == digest);
        self.write_index(&index)?;
        let (collected, gc_skipped) = match self.collect_locked(&index) {
            Ok(c) => (c, None),
            Err(e) => (Collected::default(), Some(e.to_string())),
        };
        Ok(Removed {
            digest,
            tags,
            image_deleted,
            freed: collected.freed,
            bytes_freed: collected.bytes,
            gc_skipped,
        })
    }

    /// Deletes every blob no image in `index.json` refers to.
    pub fn gc(&self) -> Result<Collected> {
        let _lock = self.lock()?;
        let index = self.read_index()?;
        self.collect_locked(&index)
    }

    /// Garbage collection proper; the caller holds the lock, so no push is between staging
    /// its blobs and listing them. Any unreadable manifest stops it before anything is
    /// deleted: its blobs cannot be told from garbage.
    pub(crate) fn collect_locked(&self, index: &Index) -> Result<Collected> {
        let mut live = BTreeSet::new();
        for desc in index.manifests.iter() {
            if !live.contains(&desc.digest) {
                live.extend(self.reachable(desc)?.into_iter().map(|d| d.digest));
            }
        }
        // Blobs pushed for a manifest not pushed yet.
        let pending: BTreeSet<Digest> = self.pending_blobs()?.into_iter().collect();
        let dir = self.root().join("blobs").join(Digest::ALGORITHM);
        let entries = std::fs::read_dir(&dir).with_path(&dir)?;
        let mut collected = Collected::default();
        for entry in entries {
            let entry = entry.with_path(&dir)?;
            let name = entry.file_name();
            // Files that are not blobs (not 64 hex digits) are not ours to delete.
            let Some(digest) = name
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
            else {
                continue;
            };
            if live.contains(&digest) || pending.contains(&digest) {
                continue;
            }
            let path = entry.path();
            let len = entry.metadata().with_path(&path)?.len();
            std::fs::remove_file(&path).with_path(&path)?;
            collected.bytes += len;
            collected.freed.push(digest);
        }
        collected.freed.sort();
        self.clear_pending(&live.iter().cloned().collect::<Vec<_>>())?;
        self.remove_stale_scans(&live)?;
        Ok(collected)
    }

    /// Whether the tag policy lets `tags` point at `digest` now.
    pub(crate) fn check_tags(&self, tags: &[String], digest: &Digest) -> Result<()> {
        let index = self.read_index()?;
        for tag in tags {
            validate_tag(tag)?;
            self.check_policy(&index, tag, digest)?;
        }
        Ok(())
    }

    fn check_policy(&self, index: &Index, tag: &str, digest: &Digest) -> Result<()> {
        match index.manifests.iter().find(|d| d.tag() == Some(tag)) {
            Some(cur) if self.policy().immutable && cur.digest != *digest => {
                Err(Error::TagExists {
                    tag: tag.to_owned(),
                    current: cur.digest.clone(),
                    requested: digest.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Adds a pushed image: commits its staged blobs and tags it, all under the lock, after
    /// the tag policy allowed every tag (so a refused push changes nothing). `created` is
    /// kept when the image is already here (a re-push does not make it newer).
    pub(crate) fn publish(
        &self,
        blobs: Vec<Staged>,
        manifest: Descriptor,
        tags: &[String],
        created: Option<String>,
    ) -> Result<Vec<Tagged>> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        for tag in tags {
            self.check_policy(&index, tag, &manifest.digest)?;
        }
        for staged in blobs {
            self.commit(staged)?;
        }
        // An image pushed by digest that an index here already names is reached through it.
        if tags.is_empty()
            && entry_of(&index, &manifest.digest).is_none()
            && self.find_manifest(&index, &manifest.digest)?.is_some()
        {
            return Ok(Vec::new());
        }
        let mut entry = match entry_of(&index, &manifest.digest) {
            Some(existing) => existing.clone(),
            None => {
                let mut entry = manifest;
                entry.annotations.clear();
                entry.annotations.insert(
                    ANNOTATION_CREATED.to_owned(),
                    created.unwrap_or_else(now_rfc3339),
                );
                entry.annotations.insert(
                    ANNOTATION_PUSHED_AT.to_owned(),
                    rfc3339_ms(next_push_time(&index)),
                );
                entry
            }
        };
        entry.annotations.remove(ANNOTATION_REF_NAME);
        let tagged: Vec<Tagged> = tags
            .iter()
            .map(|tag| set_tag(&mut index, &entry, tag))
            .collect();
        if entry_of(&index, &entry.digest).is_none() {
            index.manifests.push(entry.clone());
        }
        // The images of an index pushed by digest before it are reached through it now, as
        // one image: they are not listed, expired or counted on their own.
        if let Some(Parsed::Index(children)) = ManifestKind::parse(&entry.media_type)
            .filter(|k| k.is_index())
            .map(|_| self.read_parsed(&entry))
            .transpose()?
        {
            index.manifests.retain(|d| {
                d.tag().is_some() || !children.manifests.iter().any(|c| c.digest == d.digest)
            });
        }
        self.write_index(&index)?;
        Ok(tagged)
    }
}

/// Any `index.json` entry of the image.
pub(crate) fn entry_of<'a>(index: &'a Index, digest: &Digest) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| d.digest == *digest)
}

/// The image's tags, sorted.
pub(crate) fn tags_of(index: &Index, digest: &Digest) -> Vec<String> {
    let mut tags: Vec<String> = index
        .manifests
        .iter()
        .filter(|d| d.digest == *digest)
        .filter_map(|d| d.tag().map(str::to_owned))
        .collect();
    tags.sort();
    tags
}

/// The push time of a new image: now, or just after the latest push when the clock says
/// otherwise, so that push times in one registry are strictly increasing and "the most
/// recently pushed" (lifecycle rules) is never a tie.
fn next_push_time(index: &Index) -> u64 {
    let latest = index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(ANNOTATION_PUSHED_AT))
        .filter_map(|t| parse_rfc3339(t))
        .max();
    let now = millis(haven_time::now());
    latest.map_or(now, |l| now.max(l + 1))
}

/// Points `tag` at `entry`'s image (policy already checked).
fn set_tag(index: &mut Index, entry: &Descriptor, tag: &str) -> Tagged {
    let digest = entry.digest.clone();
    let pos = index.manifests.iter().position(|d| d.tag() == Some(tag));
    if let Some(pos) = pos
        && index.manifests[pos].digest == digest
    {
        return Tagged {
            tag: tag.to_owned(),
            digest,
            moved_from: None,
            changed: false,
        };
    }
    let moved_from = pos.map(|pos| {
        let old = index.manifests.remove(pos);
        keep_untagged(index, &old);
        old.digest
    });
    // The image is tagged now, so its untagged entry (if any) goes.
    index
        .manifests
        .retain(|d| !(d.digest == digest && d.tag().is_none()));
    let mut tagged = entry.clone();
    tagged
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
    index.manifests.push(tagged);
    Tagged {
        tag: tag.to_owned(),
        digest,
        moved_from,
        changed: true,
    }
}

/// After `removed` (a tagged entry) left the index: an image with no entry left stays, untagged.
fn keep_untagged(index: &mut Index, removed: &Descriptor) {
    if entry_of(index, &removed.digest).is_none() {
        let mut untagged = removed.clone();
        untagged.annotations.remove(ANNOTATION_REF_NAME);
        index.manifests.push(untagged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_distribution_grammar() {
        for good in ["latest", "v1.2.3", "_x", "2a10ed4c-325", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a/b",
            "a:b",
            "sha256:abc",
            "ü",
            &"a".repeat(129),
        ] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
