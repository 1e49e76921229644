//! Retention: streams whose last event is older than the retention are deleted, younger ones
//! and those the caller keeps stay, in every layout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use haven_logs::{Group, Layout, names, time};

const DAY: u64 = 86_400_000;

fn set_mtime(path: &std::path::Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn stamped_streams_expire_by_their_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let g = Group::stamped(&names::ecs_group("shop", "web-production"), dir.path());
    let now = SystemTime::now();
    let now_ms = time::to_ms(now);
    // (stream, last event's age in ms or None for no events, file age, kept?)
    let cases: &[(&str, Option<u64>, u64, bool)] = &[
        ("production/web/old", Some(3 * DAY), 0, false),
        // Written recently (mtime now) but its last event is old: the event time counts.
        (
            "production/web/old-event-fresh-file",
            Some(2 * DAY),
            0,
            false,
        ),
        ("production/web/just-inside", Some(DAY - 60_000), 0, true),
        ("production/web/fresh", Some(1000), 0, true),
        ("production/web/empty-old", None, 2 * DAY, false),
        ("production/web/empty-new", None, 0, true),
        // Old, but the caller keeps it (a running task's stream).
        ("production/web/live", Some(5 * DAY), 0, true),
    ];
    for (name, event_age, file_age, _) in cases {
        let path = g.stream_path(name);
        haven_logs::create_stream(&path).unwrap();
        if let Some(age) = event_age {
            let mut buf = Vec::new();
            haven_logs::push_event(&mut buf, now_ms - age - 5000, b"earlier");
            haven_logs::push_event(&mut buf, now_ms - age, b"last");
            haven_logs::append(&path, &buf).unwrap();
        }
        set_mtime(&path, now - Duration::from_millis(*file_age));
    }
    let mut removed = g
        .apply_retention(now, 1, &|s| s == "production/web/live")
        .unwrap();
    removed.sort();
    let mut want: Vec<&str> = cases.iter().filter(|c| !c.3).map(|c| c.0).collect();
    want.sort();
    assert_eq!(removed, want);
    let left: Vec<String> = g.streams().unwrap().into_iter().map(|s| s.name).collect();
    let mut kept: Vec<&str> = cases.iter().filter(|c| c.3).map(|c| c.0).collect();
    kept.sort();
    assert_eq!(left, kept);
    // Applying it again removes nothing more; once the caller lets it go, the kept one goes.
    assert!(
        g.apply_retention(now, 1, &|s| s == "production/web/live")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        g.apply_retention(now, 1, &|_| false).unwrap(),
        ["production/web/live"]
    );
}

#[test]
fn plain_text_streams_expire_by_their_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let builds = Group {
        name: names::codebuild_group("shop", "build"),
        dir: dir.path().join("builds"),
        layout: Layout::CodeBuild,
        retention_days: Some(1),
    };
    std::fs::create_dir_all(builds.dir.join("old")).unwrap();
    for (id, age_days) in [("old", 3), ("new", 0)] {
        let path = builds.dir.join(format!("{id}.log"));
        std::fs::write(
            &path,
            "[Container] 2020/01/01 00:00:00.000000 Entering phase BUILD\n",
        )
        .unwrap();
        set_mtime(&path, now - Duration::from_secs(age_days * 86_400));
    }
    assert_eq!(builds.apply_retention(now, 1, &|_| false).unwrap(), ["old"]);
    // The build's artifacts (its directory) are not the log's to remove.
    assert!(builds.dir.join("old").is_dir());
    assert!(builds.dir.join("new.log").is_file());

    let runs = Group {
        name: names::codepipeline_group("shop"),
        dir: dir.path().join("runs"),
        layout: Layout::PipelineRuns,
        retention_days: Some(1),
    };
    for (run, age_days) in [("r-old", 3), ("r-new", 0)] {
        std::fs::create_dir_all(runs.dir.join(run)).unwrap();
        for stage in ["Source", "Build"] {
            let path = runs.dir.join(run).join(format!("{stage}.log"));
            std::fs::write(&path, "stage output\n").unwrap();
            set_mtime(&path, now - Duration::from_secs(age_days * 86_400));
        }
    }
    let mut removed = runs.apply_retention(now, 1, &|_| false).unwrap();
    removed.sort();
    assert_eq!(removed, ["r-old/Build", "r-old/Source"]);
    assert!(
        !runs.dir.join("r-old").exists(),
        "the emptied run is removed"
    );
    assert!(runs.dir.join("r-new/Build.log").is_file());
}
