//! The SSM Parameter Store twin: SecureString parameters encrypted at rest in the state directory.
//!
//! A [`SecretStore`] is a directory (the state directory's `secrets/`) holding a 32-byte key
//! (`key`, mode 0600, refused when group or others can read it) and one file of parameters
//! (`parameters.json`). Each value is sealed with XChaCha20-Poly1305 under a fresh random nonce,
//! with the parameter's name as associated data, so a value copied under another name, an
//! altered byte or another key is a decryption error naming the parameter. Writes replace the
//! file atomically under an exclusive `flock`, so `haven secret set` and a running twin can use
//! the store at the same time. Versions count as SSM counts them: 1 on creation, one more on
//! each overwrite, back to 1 after a delete.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let store = haven_secrets::SecretStore::open(dir.path().join("secrets"))?;
//! assert_eq!(store.set("/hello/db-password", "hunter2")?, 1);
//! assert_eq!(store.get("/hello/db-password")?.as_deref(), Some("hunter2"));
//! assert_eq!(store.list()?[0].version, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod key;
mod store;

pub use error::Error;
pub use store::{MAX_VALUE_BYTES, ParameterInfo, SecretStore, check_name};
