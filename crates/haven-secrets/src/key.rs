//! The store's key file: 32 random bytes, mode 0600, created on first write and refused when its
//! mode lets group or others read or change it.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::{Key, XChaCha20Poly1305};

use haven_fs::WithPath;

use crate::Error;

const KEY_LEN: usize = 32;

/// The cipher of the key at `path`, or `None` when there is no key file.
pub(crate) fn load(path: &Path) -> Result<Option<XChaCha20Poly1305>, Error> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(haven_fs::IoError::new(path, e).into()),
    };
    // The opened file's own metadata, so the mode checked is the mode of the bytes read.
    let meta = file.metadata().with_path(path)?;
    if !meta.is_file() {
        return Err(Error::Key {
            path: path.to_owned(),
            problem: "is not a regular file".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut raw = Vec::with_capacity(KEY_LEN);
    file.read_to_end(&mut raw).with_path(path)?;
    if raw.len() != KEY_LEN {
        return Err(Error::Key {
            path: path.to_owned(),
            problem: format!("holds {} bytes, not {KEY_LEN}", raw.len()),
        });
    }
    Ok(Some(XChaCha20Poly1305::new(Key::from_slice(&raw))))
}

/// The cipher of the key at `path`, creating a random key first if there is none. Called with
/// the store's lock held, so two writers never create two keys.
pub(crate) fn load_or_create(path: &Path) -> Result<XChaCha20Poly1305, Error> {
    if let Some(cipher) = load(path)? {
        return Ok(cipher);
    }
    let mut key = Key::default();
    haven_fs::random::fill(key.as_mut_slice())?;
    // Renamed into place whole, so no reader ever sees a short key.
    haven_fs::write_private(path, key.as_slice())?;
    Ok(XChaCha20Poly1305::new(&key))
}
