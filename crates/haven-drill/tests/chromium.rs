//! The drill report in headless Chromium: it renders with no console message, its timeline
//! has the fault marker and the outage span where the fixture's times put them, and a
//! screenshot comes out. `HAVEN_DRILL_SCREENSHOT=path` copies the screenshot there (for the
//! README).
//!
//! Chromium missing is a failure, not a skip: scripts/test installs it.

#![allow(clippy::unwrap_used)]

#[path = "render.rs"]
mod render;

mod support {
    pub mod chromium;
}

use std::path::Path;

use support::chromium::{check_timelines, dom_of, run_chromium};

#[test]
fn the_harness_sees_console_errors() {
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("broken.html");
    std::fs::write(
        &page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>broken</title>\
         <link rel=\"icon\" href=\"data:,\"></head><body><p>broken</p>\
         <script>undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let run = run_chromium(
        work.path(),
        &[
            "--dump-dom".to_owned(),
            format!("file://{}", page.display()),
        ],
    );
    assert!(run.stdout.contains("<p>broken</p>"), "{}", run.stdout);
    assert!(
        run.console
            .iter()
            .any(|l| l.contains("undefinedFunction is not defined")),
        "the broken script's error was not seen: {:?}",
        run.console
    );
}

#[test]
fn the_report_renders_in_chromium_with_its_timeline() {
    let report = render::fixture();
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("report.html");
    std::fs::write(&page, haven_drill::html::render(&report)).unwrap();

    let dom = dom_of(work.path(), &page);
    // The hostile target is text, not an element.
    assert!(!dom.contains("<script"), "a script element in the DOM");
    assert!(
        dom.contains("&lt;script&gt;alert("),
        "the target's text is shown"
    );

    check_timelines(&dom, &report);

    let png = work.path().join("report.png");
    let shot = run_chromium(
        work.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,1600".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("file://{}", page.display()),
        ],
    );
    assert!(shot.console.is_empty(), "{:?}", shot.console);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a near-empty screenshot: {} bytes",
        bytes.len()
    );
    if let Some(dest) = std::env::var_os("HAVEN_DRILL_SCREENSHOT") {
        std::fs::copy(&png, &dest).unwrap_or_else(|e| {
            panic!(
                "copying the screenshot to {}: {e}",
                Path::new(&dest).display()
            )
        });
    }
}
