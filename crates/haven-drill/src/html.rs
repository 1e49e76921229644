//! The drill report as one self-contained HTML page: no script, style or font from the
//! network; the timeline is inline SVG. Every text from the report goes through [`esc`].
//!
//! The chart's elements carry stable classes and data attributes (`svg.timeline` with its
//! plot's x-extent and time span, `g.marker.marker-<kind>` with `data-t-ms`, `rect.outage`)
//! so that a browser test can check where things were drawn.

use haven_metrics::StateValue;
use haven_notify::Protocol;
use haven_spec::model::Scenario;

use crate::project;
use crate::report::{
    AlarmChange, Drill, Event, EventKind, Figure, LoadSummary, Measured, Notification, Projection,
    Report, Rpo, Sample, SteadyState, Verdict,
};

/// The page for `report`.
pub fn render(report: &Report) -> String {
    let drills: String = report
        .drills
        .iter()
        .enumerate()
        .map(|(i, d)| drill_section(i, d))
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>\n{css}</style>\n\
         </head>\n<body>\n{header}<main>\n{drills}</main>\n{footer}</body>\n</html>\n",
        title = esc(&format!("Drill {}: {}", report.id, report.project)),
        css = css(),
        header = run_header(report),
        footer = footer(report),
    )
}

// Text ---------------------------------------------------------------------------------------

/// `text` safe inside an element or a quoted attribute.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration for people: `850 ms`, `2.4 s`, `3 min 5 s`.
pub(crate) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 && ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let secs = (ms + 500) / 1000;
        match secs % 60 {
            0 => format!("{} min", secs / 60),
            s => format!("{} min {s} s", secs / 60),
        }
    }
}

/// Seconds (a projection's figure) as [`duration`] writes them.
pub(crate) fn duration_secs(secs: f64) -> String {
    // A negative or non-finite projection would be a bug upstream; shown as 0 rather than
    // wrapped around.
    let ms = if secs.is_finite() && secs > 0.0 {
        (secs * 1000.0).round() as u64
    } else {
        0
    };
    duration(ms)
}

/// A time since the drill's start, for the tables' first column.
fn at(t_ms: u64) -> String {
    format!("{:.1} s", t_ms as f64 / 1000.0)
}

/// Milliseconds of latency: whole above 100, one decimal below.
fn latency(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// An epoch time in milliseconds as RFC 3339, UTC, to the second.
fn epoch(ms: u64) -> String {
    haven_time::Utc::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .rfc3339(haven_time::Precision::Secs)
}

/// The RPO as a sentence: what was behind and for how long.
pub(crate) fn rpo_text(rpo: &Rpo) -> String {
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let behind = format!(
        "{}, {} behind",
        plural(rpo.commits, "commit", "commits"),
        plural(rpo.images, "image", "images")
    );
    if rpo.commits == 0 && rpo.images == 0 {
        "nothing behind".to_owned()
    } else {
        format!("{behind}, oldest {}", duration(rpo.age_ms))
    }
}

pub(crate) fn scenario_summary(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::TaskLoss => "One task killed under load; the service replaces it.",
        Scenario::AzPowerInterruption => {
            "Every task of one AZ killed and the AZ kept down until the drill heals it."
        }
        Scenario::RegionLoss => "The primary region killed; the edge fails over.",
        Scenario::CrossRegionConnectivity => {
            "The regions cut from each other while traffic flows: replication stops."
        }
        Scenario::BadRelease => "A release of a failing image, expected to roll back.",
        Scenario::DependencyLatency => "Latency added between the load balancer and the tasks.",
        Scenario::LoadSpike => "Load above what the running tasks hold, expected to scale out.",
    }
}

/// The kind as the report's JSON spells it, which is also the marker's class suffix.
pub(crate) fn kind_class(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Fault => "fault",
        EventKind::Detected => "detected",
        EventKind::Failover => "failover",
        EventKind::Alarm => "alarm",
        EventKind::Notification => "notification",
        EventKind::Release => "release",
        EventKind::Scaling => "scaling",
        EventKind::Recovered => "recovered",
        EventKind::Healed => "healed",
        EventKind::CaughtUp => "caught-up",
    }
}

fn kind_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::CaughtUp => "caught up",
        other => kind_class(other),
    }
}

pub(crate) fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Email => "email",
        Protocol::Webhook => "webhook",
    }
}

fn badge(passed: bool) -> &'static str {
    if passed {
        "<span class=\"badge passed\">PASSED</span>"
    } else {
        "<span class=\"badge missed\">MISSED</span>"
    }
}

/// A table with a header row; `rows` are already-escaped `<tr>` contents.
fn table(class: &str, heads: &[&str], rows: &[String]) -> String {
    let mut out = format!("<table class=\"{class}\">\n<thead><tr>");
    for h in heads {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        out.push_str(&format!("<tr>{r}</tr>\n"));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// A section of a drill with a heading, or a muted line when there is nothing to show.
fn part(id: &str, heading: &str, body: &str) -> String {
    format!(
        "<section class=\"part\" id=\"{id}\">\n<h3>{}</h3>\n{body}</section>\n",
        esc(heading)
    )
}

fn none(text: &str) -> String {
    format!("<p class=\"muted\">{}</p>\n", esc(text))
}

// The page around the drills -------------------------------------------------------------------

fn run_header(report: &Report) -> String {
    let met = report.drills.iter().filter(|d| d.passed).count();
    let rows: Vec<String> = report
        .drills
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "<td><a href=\"#drill-{i}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td>",
                esc(d.scenario.name()),
                esc(&d.target),
                badge(d.passed),
                d.measured.rto_ms.map_or_else(|| "—".to_owned(), duration),
            )
        })
        .collect();
    format!(
        "<header class=\"run\">\n<p class=\"kicker\">haven · disaster-recovery drill</p>\n\
         <h1>{project} {badge}</h1>\n\
         <p class=\"meta\">Run <code>{id}</code> · {started} to {finished} · {met} of {all} \
         drill{s} met the policy</p>\n{table}</header>\n",
        project = esc(&report.project),
        badge = badge(report.passed),
        id = esc(&report.id),
        started = esc(&report.started_at),
        finished = esc(&report.finished_at),
        all = report.drills.len(),
        s = if report.drills.len() == 1 { "" } else { "s" },
        table = table(
            "summary",
            &["Drill", "Target", "Result", "RTO (twin)"],
            &rows
        ),
    )
}

fn footer(report: &Report) -> String {
    format!(
        "<footer><p class=\"muted\">Report format {} · times in the tables are seconds since \
         each drill's start · projected figures are computed from the spec's AWS settings, not \
         measured on AWS.</p></footer>\n",
        report.version
    )
}

fn drill_section(i: usize, d: &Drill) -> String {
    let p = |name: &str| format!("drill-{i}-{name}");
    [
        format!(
            "<section class=\"drill\" id=\"drill-{i}\" data-scenario=\"{}\" data-passed=\"{}\">\n",
            esc(d.scenario.name()),
            d.passed
        ),
        drill_header(d),
        part(&p("timeline"), "Timeline", &timeline(d)),
        part(
            &p("figures"),
            "Measured on the twin, projected on AWS",
            &figures(&d.measured, &d.projected),
        ),
        part(&p("policy"), "Policy", &policy(&d.verdicts)),
        part(
            &p("steady"),
            "Steady state before and after",
            &steady(&d.steady_before, &d.steady_after),
        ),
        part(&p("load"), "Load", &load(&d.load)),
        part(&p("alarms"), "Alarms", &alarms(&d.alarms)),
        part(
            &p("notifications"),
            "Notifications",
            &notifications(&d.notifications),
        ),
        part(&p("events"), "Events", &events(&d.events)),
        part(&p("notes"), "Notes", &notes(&d.notes)),
        "</section>\n".to_owned(),
    ]
    .concat()
}

fn drill_header(d: &Drill) -> String {
    let heal = d
        .heal_ms
        .map_or_else(String::new, |h| format!(" · healed at {}", at(h)));
    format!(
        "<header class=\"drill-head\">\n<h2>{scenario} {badge}</h2>\n\
         <p class=\"what\">{summary}</p>\n\
         <p class=\"meta\">Target: <strong class=\"target\">{target}</strong></p>\n\
         <p class=\"meta\">Started {start} · fault at {fault}{heal} · ended at {end}</p>\n\
         </header>\n",
        scenario = esc(d.scenario.name()),
        badge = badge(d.passed),
        summary = esc(scenario_summary(d.scenario)),
        target = esc(&d.target),
        start = epoch(d.started_at_ms),
        fault = at(d.fault_ms),
        end = at(d.end_ms),
    )
}

// Tables -------------------------------------------------------------------------------------

/// The measured figures, each beside the projection of the same name, then projections that
/// match no measured figure; each projection with its formula and sources.
fn figures(m: &Measured, projected: &[Projection]) -> String {
    // (row, the projection of the same figure as project.rs names it, what was measured)
    let mut rows: Vec<(&str, Option<Figure>, String)> = Vec::new();
    if let Some(ms) = m.detect_ms {
        let by = m
            .detected_by
            .as_deref()
            .map_or_else(String::new, |b| format!(" ({b})"));
        let found = format!("{}{by}", duration(ms));
        rows.push((
            project::TIME_TO_DETECT.label(),
            Some(project::TIME_TO_DETECT),
            found,
        ));
    }
    if let Some(ms) = m.rto_ms {
        rows.push((project::RTO.label(), Some(project::RTO), duration(ms)));
    }
    rows.push(("failed requests", None, m.failed_requests.to_string()));
    rows.push(("p99 during the fault", None, latency(m.p99_during_ms)));
    if let Some(rpo) = &m.rpo {
        let after = rpo.after_catch_up.as_deref().map_or_else(String::new, |a| {
            format!("; after catch-up: {}", rpo_text(a))
        });
        // On AWS the data behind is what replication has not copied yet: its lag.
        let found = format!("{}{after}", rpo_text(rpo));
        rows.push(("RPO", Some(project::REPLICATION_LAG), found));
    }
    if let Some(ms) = m.catch_up_ms {
        rows.push((
            project::CATCH_UP.label(),
            Some(project::CATCH_UP),
            duration(ms),
        ));
    }
    if let Some(rb) = m.rolled_back {
        rows.push((
            "rolled back",
            None,
            if rb { "yes" } else { "no" }.to_owned(),
        ));
    }
    if let Some((from, to)) = m.scaled {
        rows.push(("scaled", None, format!("{from} → {to} tasks")));
    }
    let taken = |p: &Projection| rows.iter().any(|(_, f, _)| *f == Some(p.figure));
    let mut out: Vec<String> = rows
        .iter()
        .map(|(row, figure, found)| {
            let proj = figure.and_then(|f| projected.iter().find(|p| p.figure == f));
            figure_row(row, found, proj)
        })
        .collect();
    out.extend(
        projected
            .iter()
            .filter(|p| !taken(p))
            .map(|p| figure_row(p.figure.label(), "—", Some(p))),
    );
    table(
        "figures",
        &[
            "Figure",
            "Twin (measured)",
            "AWS (projected)",
            "How AWS's figure is computed",
        ],
        &out,
    )
}

/// A link to a source document; only web addresses become links, anything else stays text.
fn source_link(url: &str, title: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", esc(url), esc(title))
    } else {
        format!("{} ({})", esc(title), esc(url))
    }
}

fn figure_row(figure: &str, found: &str, proj: Option<&Projection>) -> String {
    let (aws, how) = proj.map_or_else(
        || ("—".to_owned(), String::new()),
        |p| {
            let sources: Vec<String> = p
                .sources
                .iter()
                .map(|s| source_link(&s.url, &s.title))
                .collect();
            let sources = if sources.is_empty() {
                String::new()
            } else {
                format!("<br><span class=\"sources\">{}</span>", sources.join(" · "))
            };
            (
                esc(&duration_secs(p.seconds)),
                format!("<code>{}</code>{sources}", esc(&p.formula)),
            )
        },
    );
    format!(
        "<th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{aws}</td><td>{how}</td>",
        esc(figure),
        esc(found)
    )
}

fn policy(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return none("The policy checks nothing for this scenario.");
    }
    let rows: Vec<String> = verdicts
        .iter()
        .map(|v| {
            format!(
                "<th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>",
                esc(&v.name()),
                esc(&v.found),
                esc(&v.limit),
                if v.passed {
                    "<span class=\"word good\">met</span>"
                } else {
                    "<span class=\"word bad\">missed</span>"
                }
            )
        })
        .collect();
    table("policy", &["Check", "Found", "Limit", "Result"], &rows)
}

fn steady(before: &SteadyState, after: &SteadyState) -> String {
    let both = |f: &dyn Fn(&SteadyState) -> String| {
        format!(
            "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
            esc(&f(before)),
            esc(&f(after))
        )
    };
    let result = |s: &SteadyState| {
        if s.passed {
            "<span class=\"word good\">steady</span>".to_owned()
        } else {
            format!(
                "<span class=\"word bad\">not steady</span> {}",
                esc(&s.reason)
            )
        }
    };
    let serving = |s: &SteadyState| {
        if s.serving_regions.is_empty() {
            "none".to_owned()
        } else {
            s.serving_regions.join(", ")
        }
    };
    let rows = vec![
        format!(
            "<th scope=\"row\">requests</th>{}",
            both(&|s| s.requests.to_string())
        ),
        format!(
            "<th scope=\"row\">failed</th>{}",
            both(&|s| format!("{} ({:.2}%)", s.failed, s.error_percent))
        ),
        format!("<th scope=\"row\">p99</th>{}", both(&|s| latency(s.p99_ms))),
        format!(
            "<th scope=\"row\">healthy targets</th>{}",
            both(&|s| format!("{} of {}", s.healthy_targets, s.desired))
        ),
        format!("<th scope=\"row\">serving regions</th>{}", both(&serving)),
        format!(
            "<th scope=\"row\">result</th><td>{}</td><td>{}</td>",
            result(before),
            result(after)
        ),
    ];
    table("steady", &["", "Before the fault", "After the heal"], &rows)
}

fn load(l: &LoadSummary) -> String {
    let rows = vec![
        format!(
            "<th scope=\"row\">URL</th><td><code>{}</code></td>",
            esc(&l.url)
        ),
        format!(
            "<th scope=\"row\">offered</th><td>{} requests/s</td>",
            l.rps
        ),
        format!(
            "<th scope=\"row\">sent</th><td>{} ({} answered, {} failed)</td>",
            l.sent, l.ok, l.failed
        ),
        format!(
            "<th scope=\"row\">latency</th><td>p50 {} · p99 {} · max {}</td>",
            latency(l.p50_ms),
            latency(l.p99_ms),
            latency(l.max_ms)
        ),
    ];
    table("load", &["", ""], &rows)
}

fn alarms(list: &[AlarmChange]) -> String {
    if list.is_empty() {
        return none("No alarm changed state.");
    }
    let rows: Vec<String> = list
        .iter()
        .map(|a| {
            format!(
                "<td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{} → {}</td>",
                at(a.t_ms),
                esc(&a.region),
                esc(&a.alarm),
                alarm_state(a.from),
                alarm_state(a.to)
            )
        })
        .collect();
    table("alarms", &["At", "Region", "Alarm", "State"], &rows)
}

fn alarm_state(state: StateValue) -> String {
    let tone = match state {
        StateValue::Ok => "good",
        StateValue::Alarm => "bad",
        StateValue::InsufficientData => "muted",
    };
    format!("<span class=\"word {tone}\">{}</span>", state.as_str())
}

fn notifications(list: &[Notification]) -> String {
    if list.is_empty() {
        return none("No notification was sent.");
    }
    let rows: Vec<String> = list
        .iter()
        .map(|n| {
            let delivered = match (n.delivered, n.delivered_ms) {
                (true, Some(ms)) => format!(
                    "<span class=\"word good\">delivered</span> at {} (after {})",
                    at(ms),
                    duration(ms.saturating_sub(n.t_ms))
                ),
                (true, None) => "<span class=\"word good\">delivered</span>".to_owned(),
                (false, _) => format!(
                    "<span class=\"word bad\">not delivered</span> {}",
                    esc(n.error.as_deref().unwrap_or_default())
                ),
            };
            format!(
                "<td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{delivered}</td>",
                at(n.t_ms),
                protocol_name(n.protocol),
                esc(&n.endpoint),
                esc(&n.subject),
            )
        })
        .collect();
    table(
        "notifications",
        &["Published", "Protocol", "Endpoint", "Subject", "Delivery"],
        &rows,
    )
}

fn events(list: &[Event]) -> String {
    if list.is_empty() {
        return none("No events were recorded.");
    }
    let rows: Vec<String> = list
        .iter()
        .map(|e| {
            format!(
                "<td class=\"n\">{}</td><td><span class=\"kind kind-{}\">{}</span></td><td>{}</td>",
                at(e.t_ms),
                kind_class(e.kind),
                kind_label(e.kind),
                esc(&e.text)
            )
        })
        .collect();
    table("events", &["At", "Kind", "What happened"], &rows)
}

fn notes(list: &[String]) -> String {
    if list.is_empty() {
        return none("None.");
    }
    let items: String = list
        .iter()
        .map(|n| format!("<li>{}</li>\n", esc(n)))
        .collect();
    format!("<ul class=\"notes\">\n{items}</ul>\n")
}

// The timeline -------------------------------------------------------------------------------

/// The chart's width in SVG units and the plot's left and right edges.
const WIDTH: f64 = 960.0;
const X0: f64 = 92.0;
const X1: f64 = 944.0;
/// Rows of marker labels above the plots, so that labels of close markers do not overlap.
const LABEL_ROWS: usize = 4;
const LABEL_ROW_H: f64 = 13.0;
/// Room above each panel for its title.
const GAP: f64 = 20.0;
const RATES_H: f64 = 110.0;
const ERRORS_H: f64 = 60.0;
const P99_H: f64 = 64.0;
const HEALTHY_H: f64 = 52.0;
const REGION_ROW_H: f64 = 14.0;
/// Region colours, in the order regions first serve; the CSS defines `region-<n>` for each.
const REGION_COLOURS: [&str; 6] = [
    "#2563eb", "#d9480f", "#0f766e", "#7c3aed", "#a16207", "#be185d",
];

/// Maps drill time to x.
struct Frame {
    span_ms: f64,
}

impl Frame {
    fn of(d: &Drill) -> Self {
        let last_sample = d
            .timeline
            .last()
            .map_or(0, |s| s.t_ms.saturating_add(d.sample_ms));
        let span = d.end_ms.max(last_sample).max(d.fault_ms).max(1);
        Frame {
            span_ms: span as f64,
        }
    }

    fn x(&self, t_ms: u64) -> f64 {
        X0 + (t_ms as f64).min(self.span_ms) / self.span_ms * (X1 - X0)
    }
}

/// A horizontal band of the chart.
struct Panel {
    top: f64,
    height: f64,
}

impl Panel {
    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// y of `v` on a scale from 0 to `max`.
    fn y(&self, v: f64, max: f64) -> f64 {
        self.bottom() - (v / max).clamp(0.0, 1.0) * self.height
    }
}

/// A round scale maximum above `v` with a little headroom, so that a flat line at the
/// maximum stays off the panel's edge (1 at least).
fn nice_max(v: f64) -> f64 {
    const ROUND: [f64; 9] = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0];
    let v = v * 1.1;
    if !v.is_finite() || v <= 1.0 {
        return 1.0;
    }
    let mut power = 1.0;
    loop {
        for m in ROUND.into_iter().chain([8.0]) {
            if m * power >= v {
                return m * power;
            }
        }
        power *= 10.0;
    }
}

/// Seconds between x-axis ticks: at most about ten ticks over `span_ms`.
fn tick_step_secs(span_ms: f64) -> u64 {
    const STEPS: [u64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    let span_s = span_ms / 1000.0;
    STEPS
        .into_iter()
        .find(|s| span_s / *s as f64 <= 10.0)
        .unwrap_or(7200)
}

/// Regions in the order they first serve: before the fault, then over the timeline.
fn regions_of(d: &Drill) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let all = d
        .steady_before
        .serving_regions
        .iter()
        .chain(d.timeline.iter().flat_map(|s| s.serving_regions.iter()))
        .chain(d.steady_after.serving_regions.iter());
    for r in all {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// When service was back: the measured RTO after the fault, else the `Recovered` event;
/// `None` when it never was (the span then runs to the drill's end).
fn recovered_ms(d: &Drill) -> Option<u64> {
    d.measured
        .rto_ms
        .map(|rto| d.fault_ms.saturating_add(rto))
        .or_else(|| {
            d.events
                .iter()
                .find(|e| e.kind == EventKind::Recovered)
                .map(|e| e.t_ms)
        })
}

fn timeline(d: &Drill) -> String {
    let frame = Frame::of(d);
    let regions = regions_of(d);
    let label_h = LABEL_ROWS as f64 * LABEL_ROW_H + 4.0;
    let rates = Panel {
        top: label_h + GAP,
        height: RATES_H,
    };
    let errors = Panel {
        top: rates.bottom() + GAP,
        height: ERRORS_H,
    };
    let p99 = Panel {
        top: errors.bottom() + GAP,
        height: P99_H,
    };
    let healthy = Panel {
        top: p99.bottom() + GAP,
        height: HEALTHY_H,
    };
    let serving = Panel {
        top: healthy.bottom() + GAP,
        height: REGION_ROW_H * regions.len().max(1) as f64,
    };
    let height = serving.bottom() + 24.0;
    let per_sec = 1000.0 / d.sample_ms.max(1) as f64;
    let rps: Vec<f64> = d
        .timeline
        .iter()
        .map(|s| f64::from(s.requests) * per_sec)
        .collect();
    let eps: Vec<f64> = d
        .timeline
        .iter()
        .map(|s| f64::from(s.errors) * per_sec)
        .collect();
    let p99s: Vec<f64> = d.timeline.iter().map(|s| s.p99_ms).collect();
    let healthies: Vec<f64> = d
        .timeline
        .iter()
        .map(|s| f64::from(s.healthy_targets))
        .collect();
    // Errors get their own scale: a few a second must show beside fifty requests.
    let rate_max = nice_max(rps.iter().copied().fold(0.0, f64::max));
    let error_max = nice_max(eps.iter().copied().fold(0.0, f64::max));
    let p99_max = nice_max(p99s.iter().copied().fold(0.0, f64::max));
    let healthy_max = nice_max(
        healthies
            .iter()
            .copied()
            .fold(f64::from(d.steady_before.desired), f64::max),
    );
    let step = |values: &[f64], panel: &Panel, max: f64, class: &str| {
        step_path(&frame, d.sample_ms, &d.timeline, values, panel, max, class)
    };
    let body = [
        panel_frame(&rates, "requests/s", rate_max),
        panel_frame(&errors, "errors/s (failed requests)", error_max),
        panel_frame(&p99, "p99 latency, ms", p99_max),
        panel_frame(&healthy, "healthy targets", healthy_max),
        serving_frame(&serving, &regions),
        x_axis(&frame, rates.top, serving.bottom()),
        outage(d, &frame, rates.top, serving.bottom()),
        step(&rps, &rates, rate_max, "series requests"),
        step(&eps, &errors, error_max, "series errors"),
        step(&p99s, &p99, p99_max, "series p99"),
        step(&healthies, &healthy, healthy_max, "series healthy"),
        region_bands(d, &frame, &serving, &regions),
        if d.timeline.is_empty() {
            format!(
                "<text class=\"nodata\" x=\"{:.1}\" y=\"{:.1}\">no samples were recorded</text>\n",
                (X0 + X1) / 2.0,
                rates.top + rates.height / 2.0
            )
        } else {
            String::new()
        },
        markers(d, &frame, serving.bottom()),
    ]
    .concat();
    format!(
        "<figure class=\"chart\">\n<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{label}\" \
         data-x0=\"{X0}\" data-x1=\"{X1}\" data-span-ms=\"{span:.0}\">\n{body}</svg>\n\
         {legend}</figure>\n",
        label = esc(&format!(
            "Timeline of {}: load, latency, healthy targets and serving regions",
            d.scenario.name()
        )),
        span = frame.span_ms,
        legend = legend(&regions, crate::policy::expects_recovery(d.scenario)),
    )
}

fn panel_frame(panel: &Panel, title: &str, max: f64) -> String {
    format!(
        "<g class=\"panel\">\n<rect class=\"plot\" x=\"{X0}\" y=\"{top:.1}\" width=\"{w:.1}\" \
         height=\"{h:.1}\"/>\n<line class=\"grid\" x1=\"{X0}\" x2=\"{X1}\" y1=\"{mid:.1}\" \
         y2=\"{mid:.1}\"/>\n<text class=\"title\" x=\"{X0}\" y=\"{ty:.1}\">{title}</text>\n\
         <text class=\"axis\" x=\"{lx:.1}\" y=\"{maxy:.1}\" text-anchor=\"end\">{max}</text>\n\
         <text class=\"axis\" x=\"{lx:.1}\" y=\"{zero:.1}\" text-anchor=\"end\">0</text>\n</g>\n",
        top = panel.top,
        w = X1 - X0,
        h = panel.height,
        mid = panel.top + panel.height / 2.0,
        title = esc(title),
        ty = panel.top - 6.0,
        lx = X0 - 6.0,
        maxy = panel.top + 9.0,
        zero = panel.bottom(),
        max = max,
    )
}

fn serving_frame(panel: &Panel, regions: &[String]) -> String {
    let mut out = format!(
        "<g class=\"panel\">\n<rect class=\"plot\" x=\"{X0}\" y=\"{:.1}\" width=\"{:.1}\" \
         height=\"{:.1}\"/>\n<text class=\"title\" x=\"{X0}\" y=\"{:.1}\">serving regions</text>\n",
        panel.top,
        X1 - X0,
        panel.height,
        panel.top - 6.0
    );
    for (i, r) in regions.iter().enumerate() {
        out.push_str(&format!(
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            X0 - 6.0,
            panel.top + REGION_ROW_H * i as f64 + 10.5,
            esc(r)
        ));
    }
    out.push_str("</g>\n");
    out
}

/// Ticks every few seconds since the drill's start, with grid lines over every panel.
fn x_axis(frame: &Frame, top: f64, bottom: f64) -> String {
    let step = tick_step_secs(frame.span_ms);
    let mut out = String::from("<g class=\"x-axis\">\n");
    let mut s = 0u64;
    while (s * 1000) as f64 <= frame.span_ms {
        let x = frame.x(s * 1000);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\"/>\
             <text class=\"axis tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
             data-t-s=\"{s}\">{s} s</text>\n",
            bottom + 15.0
        ));
        s += step;
    }
    out.push_str("</g>\n");
    out
}

/// The span from the fault to recovery (or to the drill's end when service never came back).
/// A fault that takes no service down (a partition, latency) is drawn as held, from the fault
/// to its heal, not as an outage.
fn outage(d: &Drill, frame: &Frame, top: f64, bottom: f64) -> String {
    if !crate::policy::expects_recovery(d.scenario) {
        let to = d.heal_ms.unwrap_or(d.end_ms).max(d.fault_ms);
        let (x0, x1) = (frame.x(d.fault_ms), frame.x(to));
        return format!(
            "<rect class=\"held\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" \
             height=\"{h:.1}\" data-from-ms=\"{from}\" data-to-ms=\"{to}\"><title>{title}</title></rect>\n",
            w = x1 - x0,
            h = bottom - top,
            from = d.fault_ms,
            title = esc(&format!("fault held for {}", duration(to - d.fault_ms))),
        );
    }
    let recovered = recovered_ms(d);
    let to = recovered.unwrap_or(d.end_ms).max(d.fault_ms);
    let (x0, x1) = (frame.x(d.fault_ms), frame.x(to));
    let title = match recovered {
        Some(_) => format!("fault to recovery: {}", duration(to - d.fault_ms)),
        None => "fault: service did not recover before the drill ended".to_owned(),
    };
    format!(
        "<rect class=\"outage{extra}\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" \
         height=\"{h:.1}\" data-from-ms=\"{from}\" data-to-ms=\"{to}\"><title>{title}</title></rect>\n",
        extra = if recovered.is_some() {
            ""
        } else {
            " unrecovered"
        },
        w = x1 - x0,
        h = bottom - top,
        from = d.fault_ms,
        title = esc(&title),
    )
}

/// A series as steps: each sample's value held over its interval.
fn step_path(
    frame: &Frame,
    sample_ms: u64,
    samples: &[Sample],
    values: &[f64],
    panel: &Panel,
    max: f64,
    class: &str,
) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let mut d = String::new();
    for (i, (s, v)) in samples.iter().zip(values).enumerate() {
        let (x, x_end, y) = (
            frame.x(s.t_ms),
            frame.x(s.t_ms.saturating_add(sample_ms)),
            panel.y(*v, max),
        );
        d.push_str(&if i == 0 {
            format!("M{x:.1} {y:.1}H{x_end:.1}")
        } else {
            format!("V{y:.1}H{x_end:.1}")
        });
    }
    format!("<path class=\"{class}\" d=\"{d}\"/>\n")
}

/// One row per region, filled where the edge served it.
fn region_bands(d: &Drill, frame: &Frame, panel: &Panel, regions: &[String]) -> String {
    let mut out = String::from("<g class=\"serving\">\n");
    for (i, region) in regions.iter().enumerate() {
        let y = panel.top + REGION_ROW_H * i as f64 + 2.0;
        let mut run: Option<(u64, u64)> = None;
        let flush = |run: Option<(u64, u64)>, out: &mut String| {
            if let Some((from, to)) = run {
                let (x0, x1) = (frame.x(from), frame.x(to));
                out.push_str(&format!(
                    "<rect class=\"band region-{c}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                     height=\"{h:.1}\" data-region=\"{r}\" data-from-ms=\"{from}\" \
                     data-to-ms=\"{to}\"><title>{r} serving</title></rect>\n",
                    c = i % REGION_COLOURS.len(),
                    w = x1 - x0,
                    h = REGION_ROW_H - 4.0,
                    r = esc(region),
                ));
            }
        };
        for s in &d.timeline {
            let end = s.t_ms.saturating_add(d.sample_ms);
            run = match (run, s.serving_regions.contains(region)) {
                (Some((from, to)), true) if to >= s.t_ms => Some((from, end)),
                (prev, true) => {
                    flush(prev, &mut out);
                    Some((s.t_ms, end))
                }
                (prev, false) => {
                    flush(prev, &mut out);
                    None
                }
            };
        }
        flush(run, &mut out);
    }
    out.push_str("</g>\n");
    out
}

/// The markers to draw: every event, and the fault, the heal and recovery from the drill's own
/// fields when no event records them.
fn marker_events(d: &Drill) -> Vec<Event> {
    let mut list = d.events.clone();
    let has = |k: EventKind| d.events.iter().any(|e| e.kind == k);
    if !has(EventKind::Fault) {
        list.push(Event {
            t_ms: d.fault_ms,
            kind: EventKind::Fault,
            text: "fault injected".to_owned(),
        });
    }
    if let (Some(h), false) = (d.heal_ms, has(EventKind::Healed)) {
        list.push(Event {
            t_ms: h,
            kind: EventKind::Healed,
            text: "fault undone".to_owned(),
        });
    }
    if let (Some(rto), false) = (d.measured.rto_ms, has(EventKind::Recovered)) {
        list.push(Event {
            t_ms: d.fault_ms.saturating_add(rto),
            kind: EventKind::Recovered,
            text: "full service again".to_owned(),
        });
    }
    list.sort_by_key(|e| e.t_ms);
    list
}

/// Vertical lines at each event, labelled in rows above the plots: each label takes the
/// first row where it does not overlap the previous label.
fn markers(d: &Drill, frame: &Frame, bottom: f64) -> String {
    let mut ends = [f64::NEG_INFINITY; LABEL_ROWS];
    let mut out = String::from("<g class=\"markers\">\n");
    for e in marker_events(d) {
        let x = frame.x(e.t_ms);
        let label = kind_label(e.kind);
        // System fonts at 11 px: about 6 units a character.
        let width = label.len() as f64 * 6.0 + 4.0;
        let (start, anchor, tx) = if x + 3.0 + width > WIDTH {
            (x - 3.0 - width, "end", x - 3.0)
        } else {
            (x + 3.0, "start", x + 3.0)
        };
        let row = (0..LABEL_ROWS)
            .find(|r| ends[*r] < start)
            .unwrap_or_else(|| {
                (0..LABEL_ROWS)
                    .min_by(|a, b| ends[*a].total_cmp(&ends[*b]))
                    .unwrap_or(0)
            });
        ends[row] = start + width;
        let ty = LABEL_ROW_H * (row as f64 + 1.0);
        out.push_str(&format!(
            "<g class=\"marker marker-{class}\" data-t-ms=\"{t}\"><title>{at}: {text}</title>\
             <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y1:.1}\" y2=\"{bottom:.1}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\">{label}</text></g>\n",
            class = kind_class(e.kind),
            t = e.t_ms,
            at = at(e.t_ms),
            text = esc(&e.text),
            y1 = ty + 3.0,
        ));
    }
    out.push_str("</g>\n");
    out
}

fn legend(regions: &[String], outage: bool) -> String {
    let mut out = String::from(
        "<figcaption><ul class=\"legend\">\
         <li><span class=\"swatch requests\"></span>requests/s</li>\
         <li><span class=\"swatch errors\"></span>errors/s</li>\
         <li><span class=\"swatch p99\"></span>p99 latency</li>\
         <li><span class=\"swatch healthy\"></span>healthy targets</li>",
    );
    for (i, r) in regions.iter().enumerate() {
        out.push_str(&format!(
            "<li><span class=\"swatch region-{}\"></span>{} serving</li>",
            i % REGION_COLOURS.len(),
            esc(r)
        ));
    }
    out.push_str(if outage {
        "<li><span class=\"swatch outage\"></span>fault to recovery</li></ul>"
    } else {
        "<li><span class=\"swatch held\"></span>fault held (no outage expected)</li></ul>"
    });
    out.push_str(
        "<p class=\"muted\">Seconds since the drill's start; one step per sample. \
         Hover a marker for what happened.</p></figcaption>\n",
    );
    out
}

// Styles -------------------------------------------------------------------------------------

const CSS: &str = r#":root {
  --ink: #1d2330; --muted: #5b6474; --line: #d9dde5; --soft: #f5f6f8;
  --good: #0f7b3f; --good-bg: #e3f4ea; --bad: #b42318; --bad-bg: #fde8e6;
  --requests: #2563eb; --errors: #c2410c; --p99: #7c3aed; --healthy: #0f766e;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 28px 48px; background: #fff;
  color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono",
  monospace; font-size: 13px; overflow-wrap: anywhere; }
a { color: #1d4ed8; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 0 0 4px; font-size: 21px; }
h3 { margin: 22px 0 8px; font-size: 15px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .05em; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; }
.meta, .what { margin: 2px 0; }
.muted { color: var(--muted); }
header.run { padding-bottom: 8px; }
.drill { margin-top: 32px; padding-top: 8px; border-top: 3px solid var(--line); }
.drill[data-passed="false"] { border-top-color: var(--bad); }
.badge { display: inline-block; vertical-align: middle; margin-left: 8px; padding: 1px 10px;
  border-radius: 4px; font-size: 13px; font-weight: 700; letter-spacing: .05em; }
.badge.passed { background: var(--good-bg); color: var(--good); }
.badge.missed { background: var(--bad-bg); color: var(--bad); }
.word { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 13px;
  font-weight: 600; }
.word.good { background: var(--good-bg); color: var(--good); }
.word.bad { background: var(--bad-bg); color: var(--bad); }
.word.muted { background: var(--soft); color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 4px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px 4px 0;
  border-bottom: 1px solid var(--line); }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; }
tbody th { font-weight: 600; white-space: nowrap; }
td.n { white-space: nowrap; font-variant-numeric: tabular-nums; }
.sources { font-size: 12px; }
.notes { margin: 0; padding-left: 20px; }
.kind { font-weight: 600; }
figure.chart { margin: 0; }
svg.timeline { display: block; width: 100%; height: auto; }
.timeline text { font-size: 11px; fill: var(--muted); }
svg.timeline .title { fill: var(--ink); font-weight: 600; }
svg.timeline .nodata { font-size: 13px; text-anchor: middle; }
svg.timeline .plot { fill: #fafbfc; stroke: var(--line); }
svg.timeline .grid { stroke: #e8ebf0; stroke-width: 1; }
svg.timeline .series { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
svg.timeline .requests { stroke: var(--requests); }
svg.timeline .errors { stroke: var(--errors); }
svg.timeline .p99 { stroke: var(--p99); }
svg.timeline .healthy { stroke: var(--healthy); }
svg.timeline .outage { fill: var(--bad); fill-opacity: .08; }
svg.timeline .outage.unrecovered { fill-opacity: .14; }
svg.timeline .held { fill: #b7791f; fill-opacity: .08; }
.marker line { stroke: var(--muted); stroke-width: 1.2; stroke-dasharray: 3 3; }
.marker text { font-weight: 600; }
.marker-fault line { stroke: var(--bad); stroke-dasharray: none; stroke-width: 1.6; }
.marker-fault text, .kind-fault { fill: var(--bad); color: var(--bad); }
.marker-healed line, .marker-recovered line { stroke: var(--good); }
.marker-healed text, .marker-recovered text, .kind-healed, .kind-recovered
  { fill: var(--good); color: var(--good); }
.marker-detected line { stroke: #c2410c; }
.marker-detected text, .kind-detected { fill: #c2410c; color: #c2410c; }
.marker-failover line { stroke: #7c3aed; }
.marker-failover text, .kind-failover { fill: #7c3aed; color: #7c3aed; }
.marker-alarm line { stroke: #a16207; }
.marker-alarm text, .kind-alarm { fill: #a16207; color: #a16207; }
.marker-notification line { stroke: #1d4ed8; }
.marker-notification text, .kind-notification { fill: #1d4ed8; color: #1d4ed8; }
.marker-caught-up line, .marker-scaling line, .marker-release line { stroke: #0f766e; }
.marker-caught-up text, .marker-scaling text, .marker-release text, .kind-caught-up,
  .kind-scaling, .kind-release { fill: #0f766e; color: #0f766e; }
.legend { list-style: none; margin: 6px 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 4px 16px; font-size: 13px; }
.legend + p { margin: 2px 0 0; font-size: 12px; }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: 5px;
  vertical-align: baseline; border-radius: 2px; }
.swatch.requests { background: var(--requests); }
.swatch.errors { background: var(--errors); }
.swatch.p99 { background: var(--p99); }
.swatch.healthy { background: var(--healthy); }
.swatch.outage { background: var(--bad-bg); border: 1px solid var(--bad); }
.swatch.held { background: #fdf3e1; border: 1px solid #b7791f; }
footer { margin-top: 40px; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 12px; }
  a { color: inherit; }
  .drill { break-before: page; border-top: none; }
  table, figure, .part h3 { break-inside: avoid; }
  .part h3 { break-after: avoid; }
}
"#;

/// The stylesheet: the fixed rules and one colour rule per region slot.
fn css() -> String {
    let mut out = String::from(CSS);
    for (i, c) in REGION_COLOURS.iter().enumerate() {
        out.push_str(&format!(
            ".band.region-{i} {{ fill: {c}; }}\n.swatch.region-{i} {{ background: {c}; }}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        for (raw, safe) in [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            ("a & b", "a &amp; b"),
            ("\"q\" 'q'", "&quot;q&quot; &#39;q&#39;"),
        ] {
            assert_eq!(esc(raw), safe, "{raw}");
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        for (ms, text) in [
            (0, "0 ms"),
            (850, "850 ms"),
            (2400, "2.4 s"),
            (59_949, "59.9 s"),
            (8_000, "8 s"),
            (60_000, "1 min"),
            (185_000, "3 min 5 s"),
        ] {
            assert_eq!(duration(ms), text, "{ms}");
        }
        assert_eq!(duration_secs(150.0), "2 min 30 s");
        assert_eq!(duration_secs(-1.0), "0 ms");
        assert_eq!(duration_secs(f64::NAN), "0 ms");
    }

    #[test]
    fn scales_round_up_to_one_two_five() {
        for (v, max) in [
            (0.0, 1.0),
            (0.9, 1.0),
            (1.5, 2.0),
            (3.0, 4.0),
            (50.0, 60.0),
            (900.0, 1000.0),
        ] {
            assert_eq!(nice_max(v), max, "{v}");
        }
        for (span_ms, step) in [(8_000.0, 1), (60_000.0, 10), (600_000.0, 60)] {
            assert_eq!(tick_step_secs(span_ms), step, "{span_ms}");
        }
    }
}
