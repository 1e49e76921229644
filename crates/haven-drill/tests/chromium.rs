//! The drill report in headless Chromium: it renders with no console message, its timeline
//! has the fault marker and the outage span where the fixture's times put them, and a
//! screenshot comes out. `HAVEN_DRILL_SCREENSHOT=path` copies the screenshot there (for the
//! README).
//!
//! Chromium missing is a failure, not a skip: scripts/test installs it.

#![allow(clippy::unwrap_used)]

#[path = "render.rs"]
mod render;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's `chromium`, from PATH.
fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`chromium` is not on PATH: this test renders the drill report in headless \
                 Chromium; install it with `apt-get install chromium` (scripts/test does in CI)"
            )
        })
}

/// What one Chromium run printed.
struct Run {
    stdout: String,
    /// Console messages the page logged (errors, uncaught exceptions, CSP violations).
    console: Vec<String>,
}

/// Runs headless Chromium with a fresh profile, logging to stderr so that the page's console
/// messages can be read back, then `args`.
fn run_chromium(work: &Path, args: &[String]) -> Run {
    let profile = tempfile::tempdir_in(work).unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--run-all-compositor-stages-before-draw",
            // The page's console goes to stderr as `...:CONSOLE:<line>] "message", source: ...`.
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "chromium did not finish within 120 s: {}",
                err.join().unwrap()
            );
        }
        // Polling the child's exit; the deadline above bounds the wait.
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    Run {
        stdout,
        console: console_messages(&stderr),
    }
}

/// The console lines of Chromium's log: `:CONSOLE:` (current) or `CONSOLE(` (older builds).
fn console_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE:") || l.contains(":CONSOLE("))
        .map(str::to_owned)
        .collect()
}

/// The page's DOM as Chromium built it, failing on any console message.
fn dom_of(work: &Path, page: &Path) -> String {
    let run = run_chromium(
        work,
        &[
            "--dump-dom".to_owned(),
            format!("file://{}", page.display()),
        ],
    );
    assert!(
        run.console.is_empty(),
        "the page logged to the console:\n{}",
        run.console.join("\n")
    );
    run.stdout
}

/// The opening tags of elements whose opening tag starts with `start` (e.g. `<rect class="outage"`).
fn tags<'a>(dom: &'a str, start: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = dom[from..].find(start) {
        let at = from + i;
        let end = at + dom[at..].find('>').unwrap();
        out.push(&dom[at..=end]);
        from = end;
    }
    out
}

/// An attribute's value in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let needle = format!(" {name}=\"");
    let i = tag
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + needle.len();
    &tag[i..i + tag[i..].find('"').unwrap()]
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name} of {tag}: {e}"))
}

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

    let svgs = tags(&dom, "<svg class=\"timeline\"");
    assert_eq!(svgs.len(), report.drills.len());
    // Each drill's part of the DOM: from its chart to the next.
    let starts: Vec<usize> = svgs
        .iter()
        .map(|s| dom.find(s).unwrap())
        .chain([dom.len()])
        .collect();
    for (i, drill) in report.drills.iter().enumerate() {
        let part = &dom[starts[i]..starts[i + 1]];
        let svg = svgs[i];
        let (x0, x1, span) = (
            num(svg, "data-x0"),
            num(svg, "data-x1"),
            num(svg, "data-span-ms"),
        );
        let x = |t_ms: u64| x0 + t_ms as f64 / span * (x1 - x0);

        let faults = tags(part, "<g class=\"marker marker-fault\"");
        assert_eq!(faults.len(), 1, "{:?}", drill.scenario);
        assert_eq!(attr(faults[0], "data-t-ms"), drill.fault_ms.to_string());
        let fault_line = tags(&part[part.find(faults[0]).unwrap()..], "<line")[0];
        assert!(
            (num(fault_line, "x1") - x(drill.fault_ms)).abs() < 0.11,
            "{fault_line}"
        );

        let recovered = drill.fault_ms + drill.measured.rto_ms.unwrap();
        let outage = tags(part, "<rect class=\"outage\"");
        assert_eq!(outage.len(), 1, "{:?}", drill.scenario);
        let (ox, ow) = (num(outage[0], "x"), num(outage[0], "width"));
        assert!(
            (ox - x(drill.fault_ms)).abs() < 0.11,
            "outage starts at the fault: {}",
            outage[0]
        );
        assert!(
            (ox + ow - x(recovered)).abs() < 0.21,
            "outage ends at recovery ({recovered} ms): {}",
            outage[0]
        );
        for e in &drill.events {
            assert!(
                part.contains(&format!("data-t-ms=\"{}\"", e.t_ms)),
                "no marker for {:?} at {}",
                e.kind,
                e.t_ms
            );
        }
    }

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
