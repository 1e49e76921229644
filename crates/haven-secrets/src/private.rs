//! Files only their owner may read (keys, parameters, the twin's control token): written whole,
//! through a temporary file that is synced and renamed, with mode 0600.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Error;

/// Replaces `path` with `contents`, mode 0600: a reader sees the old file or the new one, never
/// a part, and never a file others may read.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    // The mode given to open(2) is reduced by the umask, never widened; set it exactly.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    // Makes the rename itself durable; the data is already safe if this fails.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    Ok(())
}
