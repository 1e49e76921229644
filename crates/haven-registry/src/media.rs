//! The media types the registry accepts, as enums: which manifests it stores (OCI and Docker
//! v2 schema 2 images and their indexes) and which layers it can unpack (tar, tar+gzip).
//! Anything else is refused by name, never stored half-understood.

use std::io::Read;

use crate::oci::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_MANIFEST,
};

/// What a manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciImage,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerImage,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerList,
}

impl ManifestKind {
    pub fn parse(media_type: &str) -> Option<Self> {
        Some(match media_type {
            MEDIA_TYPE_MANIFEST => Self::OciImage,
            DOCKER_MANIFEST => Self::DockerImage,
            MEDIA_TYPE_INDEX => Self::OciIndex,
            DOCKER_MANIFEST_LIST => Self::DockerList,
            _ => return None,
        })
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::OciImage => MEDIA_TYPE_MANIFEST,
            Self::DockerImage => DOCKER_MANIFEST,
            Self::OciIndex => MEDIA_TYPE_INDEX,
            Self::DockerList => DOCKER_MANIFEST_LIST,
        }
    }

    /// An index (manifest list) names one image per platform rather than layers.
    pub fn is_index(self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerList)
    }
}

/// Whether `media_type` is an image config the registry reads.
pub(crate) fn is_config(media_type: &str) -> bool {
    matches!(media_type, MEDIA_TYPE_CONFIG | DOCKER_CONFIG)
}

/// How a layer's tar is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    /// The compression of a layer media type, or `None` for a type that is not a layer the
    /// registry can unpack (zstd, foreign layers, artifacts).
    pub fn of_layer(media_type: &str) -> Option<Self> {
        Some(match media_type {
            MEDIA_TYPE_LAYER | DOCKER_LAYER => Self::None,
            MEDIA_TYPE_LAYER_GZIP | DOCKER_LAYER_GZIP => Self::Gzip,
            _ => return None,
        })
    }

    /// The layer's tar, decompressed as it is read.
    pub(crate) fn decode<'a, R: Read + 'a>(self, reader: R) -> Box<dyn Read + 'a> {
        match self {
            Self::None => Box::new(reader),
            // Multi-member: pigz and some tools write several gzip members back to back.
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        }
    }
}
