//! A partition between the regions (`haven chaos partition`) as image replication sees it: in
//! force while its marker exists and the twin runs, a copy to a secondary refused with a
//! message that says how to end it, the primary untouched, and the copy made once it heals.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use haven_control::control::Endpoint;
use haven_control::paths::Paths;
use haven_pipeline::{Error, image};
use haven_spec::Spec;

const EXAMPLE: &str = include_str!("../../../examples/hello/haven.toml");

fn project(dir: &Path) -> (Spec, Paths) {
    // The spec checks that its buildspec exists; what it says does not matter here.
    std::fs::write(dir.join("buildspec.yml"), "version: 0.2\n").unwrap();
    let spec = haven_spec::load_str(EXAMPLE, Path::new("haven.toml"), dir)
        .unwrap()
        .spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    (spec, paths)
}

/// An image of a one-file build in the primary's registry; its digest.
fn pushed_image(spec: &Spec, paths: &Paths, dir: &Path) -> String {
    let artifacts = dir.join("artifacts");
    let bin = artifacts.join("target/release/hello");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let registry = image::open_registry(spec, paths, &spec.primary().name).unwrap();
    image::package(
        spec,
        &registry,
        "b1",
        &artifacts,
        "v1",
        Vec::new(),
        image::Recipe::Artifacts,
        &mut |_| {},
    )
    .unwrap()
    .digest
    .to_string()
}

/// A supervisor endpoint for this very process (alive), or for a pid that is not running.
fn supervisor(paths: &Paths, alive: bool) {
    let me = haven_process::ProcessIdentity::of(std::process::id()).unwrap();
    Endpoint {
        addr: "127.0.0.1:9".parse().unwrap(),
        pid: me.pid,
        // Another start time: a pid reused by another process is not the supervisor.
        start_time: if alive {
            me.start_time
        } else {
            me.start_time + 1
        },
    }
    .write(&paths.supervisor())
    .unwrap();
}

#[test]
fn a_partition_holds_only_while_its_marker_exists_and_the_twin_runs() {
    for (marker, running, expect) in [
        (false, None, false),
        (true, None, false),
        (true, Some(false), false),
        (false, Some(true), false),
        (true, Some(true), true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_, paths) = project(dir.path());
        if marker {
            haven_control::paths::write_atomic(&paths.partition(), b"2026-01-01T00:00:00Z\n")
                .unwrap();
        }
        if let Some(alive) = running {
            supervisor(&paths, alive);
        }
        assert_eq!(
            image::partitioned(&paths),
            expect,
            "marker {marker}, supervisor {running:?}"
        );
    }
}

#[test]
fn replication_to_a_secondary_is_refused_while_partitioned_and_made_once_healed() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, paths) = project(dir.path());
    let digest = pushed_image(&spec, &paths, dir.path());
    let secondary = spec.secondaries().next().unwrap().name.clone();
    supervisor(&paths, true);
    haven_control::paths::write_atomic(&paths.partition(), b"2026-01-01T00:00:00Z\n").unwrap();

    let err = image::replicate(&spec, &paths, "v1", &secondary).unwrap_err();
    assert!(
        matches!(&err, Error::Partitioned { image, region } if image == "v1" && *region == secondary),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the regions are partitioned (`haven chaos heal` ends it); cannot replicate v1 to {secondary}"
        )
    );
    let target = image::open_registry(&spec, &paths, &secondary).unwrap();
    assert!(target.resolve(&digest).is_err(), "nothing was copied");
    // The primary's own registry is no replication: it goes on.
    let primary = spec.primary().name.clone();
    assert_eq!(
        image::replicate(&spec, &paths, "v1", &primary)
            .unwrap()
            .to_string(),
        digest
    );

    std::fs::remove_file(paths.partition()).unwrap();
    let copied = image::replicate(&spec, &paths, "v1", &secondary).unwrap();
    assert_eq!(copied.to_string(), digest);
    assert_eq!(target.resolve("v1").unwrap().to_string(), digest);
}
