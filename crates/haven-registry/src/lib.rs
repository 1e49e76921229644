//! The local ECR twin: one registry per region, storing images as an OCI image layout
//! (image-spec v1.1) with ECR's tag semantics. Every blob read is verified against its
//! digest; a corrupt image is never unpacked, shown or copied. Images are scanned for
//! secrets and vulnerable dependencies (`scan`), expired by lifecycle rules (`lifecycle`), and
//! replicated by digest and verified in the destination (`copy`, `Registry::verify`).

pub mod advisory;
mod build;
mod copy;
pub mod cvss;
mod digest;
mod error;
mod inspect;
mod layer;
mod layout;
mod lifecycle;
mod manifest;
pub mod media;
pub mod oci;
mod scan;
mod tags;
mod time;
mod unpack;
mod upload;

pub use advisory::{Advisory, AdvisoryDb};
pub use build::{ImageConfig, ImageRef, ImageSpec, host_platform};
pub use digest::Digest;
pub use error::{Error, Result};
pub use haven_ecr::{CountType, LifecycleRule, Severity, TagStatus};
pub use inspect::{ImageDetail, ImageInfo};
pub use layout::{BlobReader, MAX_JSON_BLOB, Registry, TagPolicy};
pub use lifecycle::{Expired, LifecycleOutcome};
pub use manifest::{PutManifest, Reference, StoredManifest};
pub use media::{Compression, ManifestKind};
pub use scan::{Finding, FindingKind, MAX_SCAN_FILE, ScanOptions, ScanReport};
pub use tags::{Collected, MIN_PREFIX, Removed, Tagged, validate_tag};
pub use upload::{BlobUpload, UPLOAD_GRACE};
