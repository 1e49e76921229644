//! Reading groups: merge by time across streams, `since`, `grep`, plain-text layouts, listing,
//! and following appended lines, new streams and rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_logs::{Event, Events, Group, Layout, Query, names, time};

const T0: u64 = 1_700_000_000_000;

/// Writes a stamped stream with `(offset ms from T0, message)` events.
fn stream(group: &Group, name: &str, events: &[(u64, &str)]) {
    let mut buf = Vec::new();
    for (dt, m) in events {
        haven_logs::push_event(&mut buf, T0 + dt, m.as_bytes());
    }
    haven_logs::append(&group.stream_path(name), &buf).unwrap();
}

fn all(group: &Group, query: Query) -> Vec<Event> {
    Events::read(group, query)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn brief(events: &[Event]) -> Vec<(u64, String, String)> {
    events
        .iter()
        .map(|e| (e.timestamp_ms - T0, e.stream.to_string(), e.message.clone()))
        .collect()
}

fn group(root: &Path) -> Group {
    let g = Group::stamped(&names::ecs_group("shop", "web-production"), root);
    stream(
        &g,
        "production/web/a",
        &[(0, "a starts"), (20, "GET / 200"), (40, "a stops")],
    );
    stream(
        &g,
        "production/web/b",
        &[(10, "b starts"), (20, "GET /x 404"), (30, "b idle")],
    );
    g
}

#[test]
fn events_merge_by_time_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let g = group(dir.path());
    let (a, b) = ("production/web/a", "production/web/b");
    type Want<'a> = Vec<(u64, &'a str, &'a str)>;
    let cases: Vec<(Query, Want)> = vec![
        (
            Query::default(),
            vec![
                (0, a, "a starts"),
                (10, b, "b starts"),
                // Equal times: the stream listed first comes first.
                (20, a, "GET / 200"),
                (20, b, "GET /x 404"),
                (30, b, "b idle"),
                (40, a, "a stops"),
            ],
        ),
        (
            Query {
                since_ms: Some(T0 + 20),
                grep: None,
            },
            vec![
                (20, a, "GET / 200"),
                (20, b, "GET /x 404"),
                (30, b, "b idle"),
                (40, a, "a stops"),
            ],
        ),
        (
            Query {
                since_ms: None,
                grep: Some("GET".into()),
            },
            vec![(20, a, "GET / 200"), (20, b, "GET /x 404")],
        ),
        (
            Query {
                since_ms: Some(T0 + 21),
                grep: Some("GET".into()),
            },
            vec![],
        ),
        (
            Query {
                since_ms: None,
                grep: Some("get".into()),
            },
            vec![],
        ),
    ];
    for (query, want) in cases {
        let label = format!("{query:?}");
        let got = brief(&all(&g, query));
        let want: Vec<(u64, String, String)> = want
            .into_iter()
            .map(|(t, s, m)| (t, s.to_owned(), m.to_owned()))
            .collect();
        assert_eq!(got, want, "{label}");
    }
}

#[test]
fn since_skips_old_data_in_large_streams() {
    let dir = tempfile::tempdir().unwrap();
    let g = Group::stamped(&names::alb_group("shop", "web-production"), dir.path());
    let mut buf = Vec::new();
    for i in 0..50_000u64 {
        haven_logs::push_event(&mut buf, T0 + i * 1000, format!("request {i}").as_bytes());
    }
    haven_logs::append(&g.stream_path("2023/11/14/22"), &buf).unwrap();
    let got = all(
        &g,
        Query {
            since_ms: Some(T0 + 49_990 * 1000),
            grep: None,
        },
    );
    let messages: Vec<&str> = got.iter().map(|e| e.message.as_str()).collect();
    let want: Vec<String> = (49_990..50_000).map(|i| format!("request {i}")).collect();
    assert_eq!(messages, want);
}

#[test]
fn listing_reports_streams_sizes_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let g = group(dir.path()).with_retention(Some(7));
    haven_logs::create_stream(&g.stream_path("production/web/empty")).unwrap();
    let streams = g.streams().unwrap();
    let summary: Vec<(String, Option<u64>, Option<u64>)> = streams
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.first_event_ms.map(|t| t - T0),
                s.last_event_ms.map(|t| t - T0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("production/web/a".into(), Some(0), Some(40)),
            ("production/web/b".into(), Some(10), Some(30)),
            ("production/web/empty".into(), None, None),
        ]
    );
    let info = g.info().unwrap();
    assert_eq!(info.name, "/haven/shop/ecs/web-production");
    assert_eq!(info.streams, 3);
    assert_eq!(info.retention_days, Some(7));
    assert_eq!(info.last_event_ms, Some(T0 + 40));
    let bytes: u64 = ["a", "b"]
        .iter()
        .map(|s| {
            std::fs::metadata(g.stream_path(&format!("production/web/{s}")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(info.stored_bytes, bytes);
    // The group is found on disk by its name.
    let found = haven_logs::discover(dir.path()).unwrap();
    assert_eq!(
        found.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["/haven/shop/ecs/web-production"]
    );
    // A group that was never written has no streams, and is no error.
    let none = Group::stamped(&names::ecs_group("shop", "nothing"), dir.path());
    assert_eq!(none.info().unwrap().streams, 0);
}

#[test]
fn codebuild_lines_take_the_time_of_the_container_line_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let g = Group {
        name: names::codebuild_group("shop", "build"),
        dir: dir.path().to_owned(),
        layout: Layout::CodeBuild,
        retention_days: None,
    };
    std::fs::write(
        dir.path().join("b1.log"),
        "preamble\n\
         [Container] 2023/11/14 22:13:20.000000 Entering phase BUILD\n\
         compiling\n\
         [Container] 2023/11/14 22:13:25.500000 Phase complete: BUILD State: SUCCEEDED\n\
         no newline at the end",
    )
    .unwrap();
    std::fs::write(dir.path().join("current"), "b1\n").unwrap();
    let got = brief(&all(&g, Query::default()));
    let want = vec![
        (0, "b1", "preamble"),
        (
            0,
            "b1",
            "[Container] 2023/11/14 22:13:20.000000 Entering phase BUILD",
        ),
        (0, "b1", "compiling"),
        (
            5500,
            "b1",
            "[Container] 2023/11/14 22:13:25.500000 Phase complete: BUILD State: SUCCEEDED",
        ),
        (5500, "b1", "no newline at the end"),
    ];
    let want: Vec<(u64, String, String)> = want
        .into_iter()
        .map(|(t, s, m)| (t, s.to_owned(), m.to_owned()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn pipeline_runs_are_a_stream_per_stage() {
    let dir = tempfile::tempdir().unwrap();
    let g = Group {
        name: names::codepipeline_group("shop"),
        dir: dir.path().to_owned(),
        layout: Layout::PipelineRuns,
        retention_days: None,
    };
    let run = dir.path().join("run-1");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("Source.log"),
        format!("{} source fetched\n", time::rfc3339(T0)),
    )
    .unwrap();
    std::fs::write(
        run.join("Build.log"),
        format!(
            "{} build started\n{} build done\n",
            time::rfc3339(T0),
            time::rfc3339(T0 + 1000)
        ),
    )
    .unwrap();
    let later = dir.path().join("10");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(
        later.join("Source.log"),
        format!("{} next\n", time::rfc3339(T0 + 2000)),
    )
    .unwrap();
    let streams: Vec<String> = g
        .stream_files()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    // Stages in pipeline order, runs in number order (not by name).
    assert_eq!(streams, ["run-1/Source", "run-1/Build", "10/Source"]);
    let got = brief(&all(&g, Query::default()));
    assert_eq!(
        got,
        [
            // The same millisecond: Source before Build, as they ran.
            (0, "run-1/Source".to_owned(), "source fetched".to_owned()),
            (0, "run-1/Build".to_owned(), "build started".to_owned()),
            (1000, "run-1/Build".to_owned(), "build done".to_owned()),
            (2000, "10/Source".to_owned(), "next".to_owned()),
        ]
    );
}

#[test]
fn follow_picks_up_appended_lines_new_streams_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let g = group(dir.path());
    let mut ev = Events::follow(
        &g,
        Query {
            since_ms: None,
            grep: None,
        },
    )
    .unwrap();
    let first: Vec<Event> = ev.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(first.len(), 6);
    // Nothing new: nothing more.
    ev.refresh().unwrap();
    assert_eq!(ev.next().map(|r| r.unwrap().message), None);

    // An appended line, a half-written line, and a new stream.
    stream(&g, "production/web/a", &[(50, "a again")]);
    let a = g.stream_path("production/web/a");
    let mut half = Vec::new();
    haven_logs::push_event(&mut half, T0 + 60, b"a half");
    half.pop();
    haven_logs::append(&a, &half).unwrap();
    stream(&g, "production/web/c", &[(55, "c starts")]);
    ev.refresh().unwrap();
    let got: Vec<String> = ev.by_ref().map(|r| r.unwrap().message).collect();
    assert_eq!(got, ["a again", "c starts"]);

    // The half line is shown once its end is written.
    haven_logs::append(&a, b" done\n").unwrap();
    ev.refresh().unwrap();
    let got: Vec<String> = ev.by_ref().map(|r| r.unwrap().message).collect();
    assert_eq!(got, ["a half done"]);

    // Rotation: b replaced by a new, shorter file; c deleted.
    let b = g.stream_path("production/web/b");
    std::fs::remove_file(&b).unwrap();
    stream(&g, "production/web/b", &[(70, "b anew")]);
    std::fs::remove_file(g.stream_path("production/web/c")).unwrap();
    ev.refresh().unwrap();
    let got: Vec<(String, String)> = ev
        .by_ref()
        .map(|r| r.unwrap())
        .map(|e| (e.stream.to_string(), e.message))
        .collect();
    assert_eq!(got, [("production/web/b".into(), "b anew".into())]);

    // Truncated in place, then written again.
    std::fs::write(&a, "").unwrap();
    ev.refresh().unwrap();
    stream(&g, "production/web/a", &[(80, "a truncated")]);
    ev.refresh().unwrap();
    let got: Vec<String> = ev.by_ref().map(|r| r.unwrap().message).collect();
    assert_eq!(got, ["a truncated"]);
}

#[test]
fn follow_applies_the_filter_to_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let g = group(dir.path());
    let mut ev = Events::follow(
        &g,
        Query {
            since_ms: None,
            grep: Some("GET".into()),
        },
    )
    .unwrap();
    assert_eq!(ev.by_ref().count(), 2);
    stream(
        &g,
        "production/web/b",
        &[(90, "GET /new 200"), (91, "other")],
    );
    ev.refresh().unwrap();
    let got: Vec<String> = ev.by_ref().map(|r| r.unwrap().message).collect();
    assert_eq!(got, ["GET /new 200"]);
}
