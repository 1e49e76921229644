//! The store itself: the parameter file, its lock, and sealing and opening values.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use haven_fs::WithPath;

use crate::{Error, key};

/// SSM's Standard tier limit for a parameter's value.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The only parameter type the twin stores: every haven secret is a SecureString.
const SECURE_STRING: &str = "SecureString";

/// The parameter file's format; another number is refused rather than misread.
const FORMAT: u32 = 1;

const NONCE_LEN: usize = 24;

/// A directory of encrypted parameters (see the crate's documentation).
pub struct SecretStore {
    dir: PathBuf,
}

/// What `ls` shows of a parameter: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// 1 when created, one more on each overwrite, as in SSM.
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// The same instant as RFC 3339 UTC, to the second.
    pub last_modified: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    parameters: BTreeMap<String, Sealed>,
}

impl Default for File {
    fn default() -> Self {
        File {
            format: FORMAT,
            parameters: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    last_modified_ms: u64,
    /// Hex of the 24-byte XChaCha20 nonce.
    nonce: String,
    /// Hex of the ciphertext and its Poly1305 tag.
    ciphertext: String,
}

/// Checks `name` against SSM's parameter name rules.
pub fn check_name(name: &str) -> Result<(), Error> {
    match haven_spec::aws::ssm_name_problem(name) {
        Some(problem) => Err(Error::Name {
            name: name.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

impl std::fmt::Debug for SecretStore {
    // Only where the store is: values never reach a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// The store in `dir` (created on the first [`SecretStore::set`]). Fails when `dir` is not
    /// a directory or its key file exists with a mode that lets others read it.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let store = SecretStore { dir: dir.into() };
        match std::fs::metadata(&store.dir) {
            Ok(m) if !m.is_dir() => {
                return Err(haven_fs::IoError::new(
                    &store.dir,
                    std::io::Error::other("is not a directory"),
                )
                .into());
            }
            Ok(_) => {
                key::load(&store.key_path())?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(haven_fs::IoError::new(&store.dir, e).into()),
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key")
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join("parameters.json")
    }

    /// Stores `value` as the SecureString `name` (PutParameter with Overwrite); returns its new
    /// version. A bad name or value changes nothing.
    pub fn set(&self, name: &str, value: &str) -> Result<u64, Error> {
        check_name(name)?;
        if value.is_empty() {
            return Err(Error::Value {
                name: name.to_owned(),
                problem: "is empty; SSM needs at least one character".into(),
            });
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::Value {
                name: name.to_owned(),
                problem: format!(
                    "is {} bytes; SSM's Standard tier holds at most {MAX_VALUE_BYTES}",
                    value.len()
                ),
            });
        }
        let _lock = self.lock()?;
        let cipher = key::load_or_create(&self.key_path())?;
        let mut file = self.read()?;
        let mut nonce = XNonce::default();
        haven_fs::random::fill(nonce.as_mut_slice())?;
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| Error::Value {
                name: name.to_owned(),
                problem: "could not be encrypted".into(),
            })?;
        let version = file.parameters.get(name).map_or(0, |p| p.version) + 1;
        file.parameters.insert(
            name.to_owned(),
            Sealed {
                kind: SECURE_STRING.into(),
                version,
                last_modified_ms: haven_time::now_millis(),
                nonce: hex(&nonce),
                ciphertext: hex(&ciphertext),
            },
        );
        self.write(&file)?;
        Ok(version)
    }

    /// The value of `name` (GetParameter WithDecryption), or `None` when there is no such
    /// parameter.
    pub fn get(&self, name: &str) -> Result<Option<String>, Error> {
        check_name(name)?;
        let file = self.read()?;
        let Some(sealed) = file.parameters.get(name) else {
            return Ok(None);
        };
        let cipher = self.cipher()?;
        self.open_value(&cipher, name, sealed).map(Some)
    }

    /// Every parameter's name, version and last change, by name; never a value.
    pub fn list(&self) -> Result<Vec<ParameterInfo>, Error> {
        Ok(self
            .read()?
            .parameters
            .iter()
            .map(|(name, p)| ParameterInfo {
                name: name.clone(),
                kind: SECURE_STRING,
                version: p.version,
                last_modified_ms: p.last_modified_ms,
                last_modified: rfc3339(p.last_modified_ms / 1000),
            })
            .collect())
    }

    /// Deletes `name` (DeleteParameter); `false` when it did not exist.
    pub fn remove(&self, name: &str) -> Result<bool, Error> {
        check_name(name)?;
        if !self.file_path().exists() {
            return Ok(false);
        }
        let _lock = self.lock()?;
        let mut file = self.read()?;
        if file.parameters.remove(name).is_none() {
            return Ok(false);
        }
        self.write(&file)?;
        Ok(true)
    }

    /// Decrypts the parameters `names` now and returns a resolver of them for the build twin
    /// (`haven_build::BuildRequest::with_parameters`): a name the store lacks resolves to
    /// `None`, which the build reports as a missing parameter. Decrypting up front makes a bad
    /// name, an altered file or a wrong key an error here, where it can be reported as what it
    /// is, rather than a "missing parameter" in the build log.
    pub fn resolver(
        &self,
        names: &[&str],
    ) -> Result<impl Fn(&str) -> Option<String> + Send + Sync + 'static + use<>, Error> {
        for name in names {
            check_name(name)?;
        }
        let file = self.read()?;
        let mut values = HashMap::new();
        let wanted: Vec<(&str, &Sealed)> = names
            .iter()
            .filter_map(|n| file.parameters.get(*n).map(|s| (*n, s)))
            .collect();
        if !wanted.is_empty() {
            let cipher = self.cipher()?;
            for (name, sealed) in wanted {
                values.insert(name.to_owned(), self.open_value(&cipher, name, sealed)?);
            }
        }
        Ok(move |name: &str| values.get(name).cloned())
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305, Error> {
        let path = self.key_path();
        key::load(&path)?.ok_or_else(|| Error::Key {
            path: path.clone(),
            problem: format!(
                "is missing, but {} holds parameters encrypted with it",
                self.file_path().display()
            ),
        })
    }

    fn open_value(
        &self,
        cipher: &XChaCha20Poly1305,
        name: &str,
        sealed: &Sealed,
    ) -> Result<String, Error> {
        let failed = || Error::Decrypt {
            name: name.to_owned(),
            path: self.file_path(),
            key: self.key_path(),
        };
        let nonce = unhex(&sealed.nonce)
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(failed)?;
        let ciphertext = unhex(&sealed.ciphertext).ok_or_else(failed)?;
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| failed())?;
        String::from_utf8(plain).map_err(|_| failed())
    }

    fn read(&self) -> Result<File, Error> {
        let path = self.file_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
        };
        let file: File = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        if file.format != FORMAT {
            return Err(Error::Corrupt {
                path,
                problem: format!("format {} (this haven reads format {FORMAT})", file.format),
            });
        }
        Ok(file)
    }

    /// Replaces the parameter file whole: a reader sees the old file or the new one.
    fn write(&self, file: &File) -> Result<(), Error> {
        let path = self.file_path();
        let text = serde_json::to_vec_pretty(file).map_err(|e| Error::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        Ok(haven_fs::write_private(&path, &text)?)
    }

    /// An exclusive lock on the store's lock file, released when dropped.
    fn lock(&self) -> Result<Lock, Error> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_path(&self.dir)?;
        // Only this user reads the store's directory, whatever the umask made of it.
        let perms = std::fs::metadata(&self.dir)
            .with_path(&self.dir)?
            .permissions();
        if perms.mode() & 0o077 != 0 {
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .with_path(&self.dir)?;
        }
        let path = self.dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_path(&path)?;
        loop {
            // SAFETY: the descriptor belongs to `file`, open for the duration of the call.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(haven_fs::IoError::new(&path, e).into());
            }
        }
    }
}

/// Held while the parameter file is read, changed and written; closing the file unlocks it.
struct Lock {
    _file: std::fs::File,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Seconds since the epoch as RFC 3339 UTC, e.g. `2025-11-24T16:00:00Z`.
fn rfc3339(secs: u64) -> String {
    haven_time::Utc::from_unix_secs(i64::try_from(secs).unwrap_or(i64::MAX))
        .rfc3339(haven_time::Precision::Secs)
}

#[cfg(test)]
mod tests;
