//! The local ECR twin: one registry per region, storing images as an OCI image layout
//! (image-spec v1.1) with ECR's tag semantics. Every blob read is verified against its
//! digest; a corrupt image is never unpacked, shown or copied.

mod build;
mod copy;
mod digest;
mod error;
mod inspect;
mod layout;
pub mod oci;
mod tags;
mod unpack;

pub use build::{ImageConfig, ImageRef, ImageSpec, host_platform};
pub use digest::Digest;
pub use error::{Error, Result};
pub use inspect::{ImageDetail, ImageInfo};
pub use layout::{Registry, TagPolicy};
pub use tags::{Collected, MIN_PREFIX, Removed, Tagged, validate_tag};
