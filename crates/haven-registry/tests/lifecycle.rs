//! Push times (ECR's imagePushedAt) and lifecycle rules applied to a real registry: expired
//! images go with their tags and blobs, an image in use stays, a dry run changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use haven_registry::oci::{ANNOTATION_CREATED, ANNOTATION_PUSHED_AT};
use haven_registry::{CountType, Digest, Error, LifecycleRule, Registry, TagStatus};

/// 2026-05-01T12:00:00Z.
const NOW: u64 = 1_777_636_800;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn keep_last(n: u32) -> LifecycleRule {
    LifecycleRule {
        priority: 1,
        description: format!("Keep the {n} most recent images"),
        tag_status: TagStatus::Any,
        tag_prefixes: Vec::new(),
        count_type: CountType::ImageCountMoreThan,
        count: n,
    }
}

/// Builds `tags.len()` different images, the first pushed `tags.len()` days before NOW, the
/// last one day before.
fn images(reg: &Registry, dir: &std::path::Path, tags: &[&str]) -> Vec<Digest> {
    let n = tags.len() as u64;
    tags.iter()
        .enumerate()
        .map(|(i, tag)| {
            let built = reg
                .build(&artifacts(&dir.join(tag), tag), &spec(), tag)
                .unwrap();
            let pushed = days_ago(n - i as u64);
            set_annotation(reg, &built.digest, ANNOTATION_PUSHED_AT, Some(&pushed));
            built.digest
        })
        .collect()
}

/// The push time `n` (1 to 30) days before NOW.
fn days_ago(n: u64) -> String {
    format!("2026-04-{:02}T12:00:00.000Z", 31 - n)
}

#[test]
fn keeping_the_last_n_expires_the_older_ones_but_never_the_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let d = images(&reg, tmp.path(), &["v1", "v2", "v3", "v4"]);
    let blobs_before = blob_count(&reg);
    // v1, the oldest, is what the service runs.
    let in_use = BTreeSet::from([d[0].clone()]);

    let dry = reg
        .apply_lifecycle(&[keep_last(2)], &in_use, at(NOW), true)
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(
        dry.expired.iter().map(|e| &e.digest).collect::<Vec<_>>(),
        [&d[1]]
    );
    assert_eq!(dry.kept_in_use[0].digest, d[0]);
    assert_eq!(dry.kept_in_use[0].tags, ["v1"]);
    // A dry run changes nothing.
    assert_eq!(reg.list().unwrap().len(), 4);
    assert_eq!(blob_count(&reg), blobs_before);

    let done = reg
        .apply_lifecycle(&[keep_last(2)], &in_use, at(NOW), false)
        .unwrap();
    assert_eq!(done.expired, dry.expired);
    assert_eq!(done.expired[0].priority, 1);
    assert_eq!(done.expired[0].tags, ["v2"]);
    assert_eq!(done.expired[0].pushed_at, "2026-04-28T12:00:00.000Z");
    assert!(matches!(reg.resolve("v2"), Err(Error::NotFound { .. })));
    for kept in ["v1", "v3", "v4"] {
        reg.inspect(kept).unwrap();
    }
    // v2's layer, config and manifest are freed; nothing else is.
    assert_eq!(done.freed.len(), 3);
    assert!(done.freed.contains(&d[1]));
    assert_eq!(blob_count(&reg), blobs_before - 3);
    assert!(done.gc_skipped.is_none());

    // Applying again finds nothing more to do; once v1 is no longer in use, it goes.
    let again = reg
        .apply_lifecycle(&[keep_last(2)], &in_use, at(NOW), false)
        .unwrap();
    assert!(again.expired.is_empty());
    let freed = reg
        .apply_lifecycle(&[keep_last(2)], &BTreeSet::new(), at(NOW), false)
        .unwrap();
    assert_eq!(freed.expired[0].digest, d[0]);
    assert_eq!(
        reg.list()
            .unwrap()
            .iter()
            .map(|i| i.tags.join(","))
            .collect::<Vec<_>>(),
        ["v4", "v3"]
    );
}

#[test]
fn untagged_images_expire_by_age_and_invalid_rules_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), MUTABLE);
    let d = images(&reg, tmp.path(), &["a", "b", "c"]);
    // Moving `a` onto c's image leaves the old `a` image untagged, pushed 3 days ago.
    reg.tag(&d[2].to_string(), "a").unwrap();
    let untagged = LifecycleRule {
        priority: 1,
        description: "Expire untagged images 2 days after push".into(),
        tag_status: TagStatus::Untagged,
        tag_prefixes: Vec::new(),
        count_type: CountType::SinceImagePushed,
        count: 2,
    };
    let tagged_b = LifecycleRule {
        priority: 2,
        description: "Keep no b images".into(),
        tag_status: TagStatus::Tagged,
        tag_prefixes: vec!["b".into()],
        count_type: CountType::ImageCountMoreThan,
        count: 0,
    };

    let bad = LifecycleRule {
        tag_prefixes: Vec::new(),
        ..tagged_b.clone()
    };
    let err = reg
        .apply_lifecycle(&[untagged.clone(), bad], &BTreeSet::new(), at(NOW), false)
        .unwrap_err();
    assert!(err.to_string().contains("priority 2"), "{err}");
    assert_eq!(reg.list().unwrap().len(), 3);

    let out = reg
        .apply_lifecycle(&[tagged_b, untagged], &BTreeSet::new(), at(NOW), false)
        .unwrap();
    let expired: Vec<(&Digest, u32)> = out
        .expired
        .iter()
        .map(|e| (&e.digest, e.priority))
        .collect();
    assert_eq!(expired, [(&d[0], 1), (&d[1], 2)]);
    assert_eq!(reg.list().unwrap().len(), 1);
}

#[test]
fn push_times_increase_and_a_replica_is_pushed_when_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let primary = open(&tmp.path().join("p"), IMMUTABLE);
    let secondary = open(&tmp.path().join("s"), IMMUTABLE);
    // Built back to back, usually within one millisecond of each other: still ordered.
    let built: Vec<Digest> = (0..4)
        .map(|i| {
            let tag = format!("v{i}");
            primary
                .build(&artifacts(&tmp.path().join(&tag), &tag), &spec(), &tag)
                .unwrap()
                .digest
        })
        .collect();
    let pushed: Vec<String> = built
        .iter()
        .map(|d| primary.inspect(&d.to_string()).unwrap().pushed_at)
        .collect();
    assert!(pushed.windows(2).all(|w| w[0] < w[1]), "{pushed:?}");
    // Rebuilding an image does not make it newer.
    primary
        .build(&tmp.path().join("v0"), &spec(), "v0")
        .unwrap();
    assert_eq!(primary.inspect("v0").unwrap().pushed_at, pushed[0]);

    // The replica is pushed when copied, after everything in the source; `created` is kept.
    primary.copy("v0", &secondary).unwrap();
    let replica = secondary.inspect("v0").unwrap();
    assert!(
        replica.pushed_at > pushed[3],
        "{} {}",
        replica.pushed_at,
        pushed[3]
    );
    assert_eq!(replica.created, primary.inspect("v0").unwrap().created);
    secondary.verify(&built[0]).unwrap();

    // Verification catches a replica that rotted after the copy.
    let layer = layer_of(&secondary, "v0");
    flip_byte(&secondary, &layer.digest, 10);
    let err = secondary.verify(&built[0]).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn registries_without_push_times_fall_back_to_created_then_the_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let d = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "v1")
        .unwrap()
        .digest;
    set_annotation(&reg, &d, ANNOTATION_PUSHED_AT, None);
    set_annotation(&reg, &d, ANNOTATION_CREATED, Some("2026-04-01T08:30:00Z"));
    assert_eq!(reg.list().unwrap()[0].pushed_at, "2026-04-01T08:30:00.000Z");

    // No annotation at all: the manifest blob's modification time.
    set_annotation(&reg, &d, ANNOTATION_CREATED, None);
    std::fs::File::open(reg.blob_path(&d))
        .unwrap()
        .set_modified(at(1_772_323_200))
        .unwrap();
    assert_eq!(reg.list().unwrap()[0].pushed_at, "2026-03-01T00:00:00.000Z");
}
