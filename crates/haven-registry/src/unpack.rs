//! Unpacking an image into a root filesystem for tasks to run from. Each manifest digest is
//! unpacked once into `<cache>/<hex>/rootfs`: extracted into a temp directory while its
//! layers are hashed, and renamed into place only when every layer matched its digest, so a
//! `rootfs` that exists is complete and verified. A per-digest lock makes concurrent callers
//! (threads or processes) wait for the one extraction instead of repeating it.

use haven_fs::WithPath;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::{FileLock, Registry};

/// Permission bits applied to unpacked files: setuid and setgid are dropped, since a root
/// process unpacking an image must never mint a setuid-root binary from it.
const MODE_MASK: u32 = 0o1777;

impl Registry {
    /// The root filesystem of the image `reference` names, unpacked (once per digest) under
    /// `cache_root`. A layer that does not match its digest is [`Error::Corrupt`] and nothing
    /// is left behind; an entry that would land outside the rootfs is [`Error::UnsafeEntry`].
    pub fn unpack(&self, reference: &str, cache_root: &Path) -> Result<PathBuf> {
        let index = self.read_index()?;
        let (digest, _) = self.resolve_in(&index, reference)?;
        let dir = cache_root.join(digest.hex());
        let rootfs = dir.join("rootfs");
        if rootfs.is_dir() {
            return Ok(rootfs);
        }
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let _lock = FileLock::acquire(&dir.join(".lock"))?;
        // Whoever held the lock before may have unpacked it meanwhile.
        if rootfs.is_dir() {
            return Ok(rootfs);
        }
        remove_stale(&dir);
        let image = self.load_in(&index, &digest)?;
        let tmp = dir.join(format!(".rootfs.tmp-{}-{}", std::process::id(), next()));
        std::fs::create_dir(&tmp).with_path(&tmp)?;
        let result = (|| {
            let mut dir_modes = BTreeMap::new();
            // `load_in` checked that there is one diff_id per layer.
            let diff_ids = &image.config.rootfs.diff_ids;
            for (i, layer) in image.manifest.layers.iter().enumerate() {
                self.read_layer(layer, diff_ids.get(i), |tar, blob| {
                    extract(tar, blob, &layer.digest, &tmp, &mut dir_modes)
                })?;
            }
            // Directory modes last, deepest first: a read-only directory must not stop its
            // own entries from being written.
            for (rel, mode) in dir_modes.iter().rev() {
                let path = tmp.join(rel);
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                    .with_path(&path)?;
            }
            haven_fs::rename_durable(&tmp, &rootfs)?;
            Ok::<(), Error>(())
        })();
        if let Err(e) = result {
            // Best effort: the error matters more, and a leftover is removed next time.
            std::fs::remove_dir_all(&tmp).ok();
            return Err(e);
        }
        Ok(rootfs)
    }
}

fn next() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Removes temp directories of extractions that died; called under the digest's lock, so no
/// extraction is in progress.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".rootfs.tmp-")
        {
            // Best effort: a leftover costs only disk space.
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
}

/// The opaque whiteout: the directory holding it hides everything lower layers put in it.
const OPAQUE: &str = ".wh..wh..opq";
/// A whiteout's prefix: `.wh.name` deletes `name` of lower layers.
const WHITEOUT: &str = ".wh.";

/// Extracts one layer's tar into `root`, applying its OCI whiteouts to what lower layers left.
fn extract(
    reader: &mut dyn io::Read,
    blob: &Path,
    digest: &Digest,
    root: &Path,
    dir_modes: &mut BTreeMap<PathBuf, u32>,
) -> Result<()> {
    let unsafe_entry = |entry: &Path, reason| Error::UnsafeEntry {
        digest: digest.clone(),
        entry: entry.to_path_buf(),
        reason,
    };
    // What this layer put in place (with the ancestors of each): whiteouts hide lower
    // layers only, whatever the order of entries within this one.
    let mut this_layer: BTreeSet<PathBuf> = BTreeSet::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().with_path(blob)? {
        let mut entry = entry.with_path(blob)?;
        let raw = entry.path().with_path(blob)?.into_owned();
        let rel = safe_relative(&raw)
            .ok_or_else(|| unsafe_entry(&raw, "an absolute path or one with `..`"))?;
        if rel.as_os_str().is_empty() {
            continue; // The root itself.
        }
        if through_symlink(root, &rel) {
            return Err(unsafe_entry(&raw, "its path goes through a symlink"));
        }
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.as_deref().filter(|n| n.starts_with(WHITEOUT)) {
            let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
            let hidden: Vec<PathBuf> = if name == OPAQUE {
                children(&root.join(&parent))?
                    .into_iter()
                    .map(|child| parent.join(child))
                    .collect()
            } else {
                let target = Path::new(&name[WHITEOUT.len()..]);
                if !matches!(
                    target.components().collect::<Vec<_>>()[..],
                    [Component::Normal(_)]
                ) {
                    return Err(unsafe_entry(&raw, "a whiteout that names no file"));
                }
                vec![parent.join(target)]
            };
            for gone in hidden.iter().filter(|p| !this_layer.contains(*p)) {
                remove_existing(&root.join(gone))?;
                dir_modes.retain(|dir, _| !dir.starts_with(gone));
            }
            continue;
        }
        this_layer.extend(rel.ancestors().map(Path::to_path_buf));
        let dest = root.join(&rel);
        let header = entry.header();
        let mode = header.mode().with_path(blob)? & MODE_MASK;
        let kind = header.entry_type();
        let io_err = |e| haven_fs::IoError::new(&dest, e);
        match kind {
            tar::EntryType::Directory => {
                if !std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                    remove_existing(&dest)?;
                }
                std::fs::create_dir_all(&dest).map_err(io_err)?;
                // Writable until the end, whatever the entry says.
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                    .map_err(io_err)?;
                dir_modes.insert(rel, mode);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                prepare(&dest)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&dest)
                    .map_err(io_err)?;
                io::copy(&mut entry, &mut file).with_path(blob)?;
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io_err)?;
            }
            tar::EntryType::Symlink => {
                // Where a symlink points is data: nothing is ever written through it (see
                // `through_symlink`), and tasks resolve it at run time.
                let target = entry
                    .link_name()
                    .with_path(blob)?
                    .ok_or_else(|| unsafe_entry(&raw, "a symlink without a target"))?;
                prepare(&dest)?;
                std::os::unix::fs::symlink(&target, &dest).map_err(io_err)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .with_path(blob)?
                    .ok_or_else(|| unsafe_entry(&raw, "a hard link without a target"))?;
                let target = safe_relative(&target)
                    .filter(|t| !t.as_os_str().is_empty() && !through_symlink(root, t))
                    .ok_or_else(|| unsafe_entry(&raw, "a hard link to outside the rootfs"))?;
                prepare(&dest)?;
                std::fs::hard_link(root.join(target), &dest).map_err(io_err)?;
            }
            _ => {
                return Err(unsafe_entry(
                    &raw,
                    "devices, fifos and other special files are never unpacked",
                ));
            }
        }
    }
    Ok(())
}

/// The names in a directory, none if it does not exist.
fn children(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name()).with_path(dir).map_err(Error::from))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(haven_fs::IoError::new(dir, e).into()),
    }
}

/// `path` as a relative path of normal components, or `None` if it is absolute or has `..`.
/// `./` components are dropped; an empty result is the root.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether any existing ancestor of `rel` under `root` is a symlink: writing through one
/// (`link -> /etc`, then `link/passwd`) would escape the rootfs.
fn through_symlink(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in parents.iter().take(parents.len().saturating_sub(1)) {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Makes room for an entry: its parent exists, and whatever a lower layer (or an earlier
/// entry) had at its path is gone.
fn prepare(dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).with_path(parent)?;
    }
    remove_existing(dest)
}

fn remove_existing(dest: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(dest),
        Ok(_) => std::fs::remove_file(dest),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    Ok(removed.with_path(dest)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert_eq!(
            safe_relative(Path::new("./a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(safe_relative(Path::new("./")), Some(PathBuf::new()));
        assert_eq!(safe_relative(Path::new("a/../../b")), None);
        assert_eq!(safe_relative(Path::new("/etc/passwd")), None);
    }
}
