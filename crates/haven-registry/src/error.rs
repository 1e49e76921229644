//! The registry's errors: each names the reference, digest or path at fault.

use std::path::PathBuf;

use crate::digest::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),

    #[error("{}: not valid {what}: {source}", path.display())]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("{}: not an OCI image layout: {reason}", path.display())]
    NotALayout { path: PathBuf, reason: String },

    /// A blob's bytes do not hash to its name: the image is not run, copied or shown.
    #[error(
        "blob {digest} is corrupt: `{}` does not hash to its digest (or has the wrong size); \
         the image is unusable until it is pushed again",
        path.display()
    )]
    Corrupt { digest: Digest, path: PathBuf },

    #[error("blob {digest} is missing: `{}` does not exist", path.display())]
    MissingBlob { digest: Digest, path: PathBuf },

    #[error("no image `{reference}` in the registry at `{}`", registry.display())]
    NotFound {
        reference: String,
        registry: PathBuf,
    },

    #[error("`{reference}` matches {} images ({}); give more of the digest", candidates.len(), list(candidates))]
    Ambiguous {
        reference: String,
        candidates: Vec<Digest>,
    },

    /// ECR's `ImageTagAlreadyExistsException`: immutable tags never move.
    #[error(
        "tag `{tag}` already points to {current}; the registry's tags are immutable, so it \
         cannot point to {requested} (ImageTagAlreadyExistsException): use a new tag"
    )]
    TagExists {
        tag: String,
        current: Digest,
        requested: Digest,
    },

    #[error("`{tag}` is not a valid tag: {reason}")]
    InvalidTag { tag: String, reason: &'static str },

    #[error("`{reference}` is not a tag")]
    NotATag { reference: String },

    #[error("`{value}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)")]
    InvalidDigest { value: String },

    #[error("invalid image spec: {reason}")]
    InvalidSpec { reason: String },

    #[error("cannot put `{}` in an image: {reason}", path.display())]
    UnsupportedFile { path: PathBuf, reason: &'static str },

    /// A layer entry that would land outside the rootfs (or is of a kind never unpacked).
    #[error("layer {digest} has an unsafe entry `{}`: {reason}; the image is not unpacked", entry.display())]
    UnsafeEntry {
        digest: Digest,
        entry: PathBuf,
        reason: &'static str,
    },

    #[error("blob {digest} has media type `{media_type}`, which this registry does not handle")]
    UnsupportedMediaType { digest: Digest, media_type: String },

    #[error("{}: not a valid RustSec advisory: {reason}", path.display())]
    Advisory { path: PathBuf, reason: String },

    #[error("{}: not a valid Cargo.lock: {reason}", path.display())]
    Lockfile { path: PathBuf, reason: String },

    #[error("lifecycle rule with priority {priority}: {reason}")]
    InvalidLifecycle { priority: u32, reason: String },
}

impl Error {}

fn list(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
