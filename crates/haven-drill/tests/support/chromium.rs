//! Headless Chromium for the drill report's tests (this crate's and the CLI's, which include
//! this file): run it with a fresh profile, read back the DOM and the page's console, and check
//! a report's timelines against the report they were drawn from.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's `chromium`, from PATH.
pub fn chromium() -> PathBuf {
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
pub struct Run {
    pub stdout: String,
    /// Console messages the page logged (errors, uncaught exceptions, CSP violations).
    pub console: Vec<String>,
}

/// Runs headless Chromium with a fresh profile, logging to stderr so that the page's console
/// messages can be read back, then `args`.
pub fn run_chromium(work: &Path, args: &[String]) -> Run {
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
pub fn console_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE:") || l.contains(":CONSOLE("))
        .map(str::to_owned)
        .collect()
}

/// The page's DOM as Chromium built it, failing on any console message.
pub fn dom_of(work: &Path, page: &Path) -> String {
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
pub fn tags<'a>(dom: &'a str, start: &str) -> Vec<&'a str> {
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
pub fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let needle = format!(" {name}=\"");
    let i = tag
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + needle.len();
    &tag[i..i + tag[i..].find('"').unwrap()]
}

pub fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name} of {tag}: {e}"))
}

/// Checks every drill's timeline in `dom` (a report page as Chromium built it) against
/// `report`: one chart per drill, its fault marker where the fault was, the outage span from the
/// fault to recovery, and a marker at every event's time.
pub fn check_timelines(dom: &str, report: &haven_drill::Report) {
    let svgs = tags(dom, "<svg class=\"timeline\"");
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

        // A fault that takes no service down is drawn as held until its heal.
        if !haven_drill::policy::expects_recovery(drill.scenario) {
            let held = tags(part, "<rect class=\"held\"");
            assert_eq!(held.len(), 1, "{:?}", drill.scenario);
            let healed = drill.heal_ms.unwrap_or(drill.end_ms);
            assert!(
                (num(held[0], "x") - x(drill.fault_ms)).abs() < 0.11,
                "{}",
                held[0]
            );
            let end = num(held[0], "x") + num(held[0], "width");
            assert!(
                (end - x(healed)).abs() < 0.21,
                "held until the heal: {}",
                held[0]
            );
            assert!(tags(part, "<rect class=\"outage").is_empty());
            continue;
        }
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
}
