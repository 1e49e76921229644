//! Fixtures shared by the registry's tests: artifacts directories, blob surgery, hand-made
//! images.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use haven_registry::oci::{
    ANNOTATION_REF_NAME, Descriptor, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER, MEDIA_TYPE_MANIFEST,
    Manifest,
};
use haven_registry::{Digest, ImageSpec, Registry, TagPolicy};

pub const IMMUTABLE: TagPolicy = TagPolicy { immutable: true };
pub const MUTABLE: TagPolicy = TagPolicy { immutable: false };

/// A build's artifacts: an executable script, a data file, a nested directory and a symlink.
pub fn artifacts(dir: &Path, greeting: &str) -> PathBuf {
    let root = dir.to_path_buf();
    std::fs::create_dir_all(root.join("target/release")).unwrap();
    std::fs::create_dir_all(root.join("static/css")).unwrap();
    let hello = root.join("target/release/hello");
    std::fs::write(&hello, format!("#!/bin/sh\necho {greeting} \"$@\"\n")).unwrap();
    std::fs::set_permissions(&hello, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.join("static/css/site.css");
    std::fs::write(&data, "body { color: black }\n").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(root.join("static"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("target/release/hello", root.join("run")).unwrap();
    root
}

pub fn spec() -> ImageSpec {
    let mut spec = ImageSpec::new(vec!["target/release/hello".into(), "--serve".into()]);
    spec.env = vec![
        ("GREETING".into(), "hi".into()),
        ("PORT".into(), "8080".into()),
    ];
    spec.exposed_port = Some(8080);
    spec.labels = BTreeMap::from([("haven.build".into(), "b1".into())]);
    spec
}

pub fn open(dir: &Path, policy: TagPolicy) -> Registry {
    Registry::open(dir, policy).unwrap()
}

/// Flips one byte of a blob in place, as bit rot or a bad copy would.
pub fn flip_byte(reg: &Registry, digest: &Digest, offset: u64) {
    let path = reg.blob_path(digest);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let i = usize::try_from(offset).unwrap();
    bytes[i] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
}

pub fn blob_count(reg: &Registry) -> usize {
    std::fs::read_dir(reg.root().join("blobs/sha256"))
        .unwrap()
        .count()
}

pub fn layer_of(reg: &Registry, reference: &str) -> Descriptor {
    reg.inspect(reference).unwrap().layers[0].clone()
}

/// A raw tar entry whose name is written as given, bypassing the tar crate's own refusal of
/// `..`: what a hostile image would contain.
pub fn raw_entry(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_mtime(0);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Ends a hand-made tar archive.
pub fn finish_tar(mut entries: Vec<u8>) -> Vec<u8> {
    entries.extend_from_slice(&[0u8; 1024]);
    entries
}

fn put_blob(reg: &Registry, bytes: &[u8]) -> Descriptor {
    let digest = Digest::of(bytes);
    std::fs::write(reg.blob_path(&digest), bytes).unwrap();
    Descriptor::new("", digest, bytes.len() as u64)
}

/// Adds an image with the given layer bytes straight into the layout, every digest correct,
/// tagged `tag`: the registry can only tell it apart by what the layer contains.
pub fn inject_image(reg: &Registry, layer: &[u8], tag: &str) -> Digest {
    let mut layer_desc = put_blob(reg, layer);
    layer_desc.media_type = MEDIA_TYPE_LAYER.into();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": ["x"] },
        "rootfs": { "type": "layers", "diff_ids": [layer_desc.digest] },
    });
    let mut config_desc = put_blob(reg, config.to_string().as_bytes());
    config_desc.media_type = MEDIA_TYPE_CONFIG.into();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        config: config_desc,
        layers: vec![layer_desc],
        annotations: BTreeMap::new(),
    };
    let mut manifest_desc = put_blob(reg, &serde_json::to_vec(&manifest).unwrap());
    manifest_desc.media_type = MEDIA_TYPE_MANIFEST.into();
    manifest_desc
        .annotations
        .insert(ANNOTATION_REF_NAME.into(), tag.into());
    let index_path = reg.root().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::to_value(&manifest_desc).unwrap());
    std::fs::write(&index_path, index.to_string()).unwrap();
    manifest_desc.digest
}

/// Every path under `dir`, relative, sorted (to compare trees).
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Sets (or, with `None`, removes) an annotation on every `index.json` entry of an image: to
/// give images chosen push times, or make a registry look like one written before they were
/// recorded.
pub fn set_annotation(reg: &Registry, digest: &Digest, key: &str, value: Option<&str>) {
    let index_path = reg.root().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for desc in index["manifests"].as_array_mut().unwrap() {
        if desc["digest"] != digest.to_string() {
            continue;
        }
        let annotations = desc["annotations"].as_object_mut().unwrap();
        match value {
            Some(v) => annotations.insert(key.to_owned(), v.into()),
            None => annotations.remove(key),
        };
    }
    std::fs::write(&index_path, index.to_string()).unwrap();
}

/// The advisory database shipped with the tests.
pub fn advisory_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/advisory-db")
}
