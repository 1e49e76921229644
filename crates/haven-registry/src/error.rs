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

    /// Bytes that do not hash to the digest they were sent (or asked) under: nothing is stored.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },

    /// A manifest refused as a document: bad JSON, wrong schema version, a media type that
    /// contradicts the one it was sent as, a descriptor whose size is wrong...
    #[error("invalid manifest: {reason}")]
    ManifestInvalid { reason: String },

    #[error("the manifest is {size} bytes, over the registry's limit of {limit} bytes")]
    ManifestTooLarge { size: u64, limit: u64 },

    /// A manifest names a blob (or an index a manifest) the repository does not have.
    #[error("the manifest refers to {digest}, which is not in the registry: push it first")]
    ManifestBlobUnknown { digest: Digest },

    /// A media type the registry neither stores nor serves (artifacts, zstd layers...).
    #[error("media type `{media_type}` is not supported by this registry")]
    UnknownMediaType { media_type: String },

    /// An index without an image for this machine.
    #[error(
        "image index {digest} has no image for {host} (it has: {}); the twin runs images of \
         its own platform",
        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
    )]
    NoPlatform {
        digest: Digest,
        host: String,
        available: Vec<String>,
    },

    /// An uncompressed layer whose content is not the one the config names.
    #[error(
        "layer {layer} decompresses to {actual}, but the image config's diff_id is {expected}; \
         the image is not unpacked"
    )]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },

    /// A chunk of a blob upload that does not start where the upload ends.
    #[error("the chunk starts at byte {got}, but the upload has {expected} bytes")]
    UploadOffset { expected: u64, got: u64 },

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
