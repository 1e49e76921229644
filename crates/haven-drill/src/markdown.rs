//! The drill report's short Markdown summary (`summary.md`): one line per drill with its
//! verdict, RTO on the twin, projected on AWS and the policy's limit, failed requests, the RPO
//! where measured, and every missed check spelled out under it.

use crate::html::{duration, duration_secs, rpo_text};
use crate::report::{Drill, Report};
use crate::{policy, project};

/// The summary of `report`.
pub fn render(report: &Report) -> String {
    let met = report.drills.iter().filter(|d| d.passed).count();
    let mut out = format!(
        "# Drill run `{id}`: {verdict}\n\nProject {project}, {started} to {finished}: {met} of \
         {all} drill{s} met the policy.\n\n",
        id = report.id.replace('`', "'"),
        verdict = verdict(report.passed),
        project = md(&report.project),
        started = md(&report.started_at),
        finished = md(&report.finished_at),
        all = report.drills.len(),
        s = if report.drills.len() == 1 { "" } else { "s" },
    );
    for d in &report.drills {
        out.push_str(&drill_line(d));
    }
    out
}

fn verdict(passed: bool) -> &'static str {
    if passed { "PASSED" } else { "MISSED" }
}

/// `text` with Markdown's punctuation escaped, so a target or an error reads as written and
/// never as markup (or as HTML, which Markdown renderers pass through).
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A line break inside a list item would end it.
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One list item: verdict, target, figures; then one sub-item per missed check.
fn drill_line(d: &Drill) -> String {
    let mut parts = Vec::new();
    if let Some(rto) = rto(d) {
        parts.push(rto);
    }
    let failed = d.measured.failed_requests;
    parts.push(format!(
        "{failed} failed request{}",
        if failed == 1 { "" } else { "s" }
    ));
    if let Some(rpo) = &d.measured.rpo {
        let after = rpo.after_catch_up.as_deref().map_or_else(String::new, |a| {
            format!(" (after catch-up: {})", rpo_text(a))
        });
        parts.push(format!("RPO {}{after}", rpo_text(rpo)));
    }
    let mut out = format!(
        "- **{}** {}: {}; {}.\n",
        d.scenario.name(),
        verdict(d.passed),
        md(&d.target),
        parts.join("; ")
    );
    for v in d.verdicts.iter().filter(|v| !v.passed) {
        out.push_str(&format!(
            "  - missed: {}: found {}, limit {}\n",
            md(&v.name()),
            md(&v.found),
            md(&v.limit)
        ));
    }
    if !d.passed && d.verdicts.iter().all(|v| v.passed) {
        out.push_str("  - missed: a steady-state check or the drill itself; see the report\n");
    }
    out
}

/// `RTO 2.4 s on the twin, 1 min 30 s projected on AWS, policy ≤ 5m`, each part when the
/// report has it; `None` when it has none of them.
fn rto(d: &Drill) -> Option<String> {
    let projected = d.projected.iter().find(|p| p.figure == project::RTO);
    // Both RTO checks hold to the same limit; the twin's is there whenever the policy has one.
    let limit = d
        .verdicts
        .iter()
        .find(|v| v.check == policy::RTO_TWIN || v.check == policy::RTO_AWS);
    if d.measured.rto_ms.is_none() && projected.is_none() && limit.is_none() {
        return None;
    }
    let mut text = match d.measured.rto_ms {
        Some(ms) => format!("RTO {} on the twin", duration(ms)),
        None => "RTO not measured on the twin".to_owned(),
    };
    if let Some(p) = projected {
        text.push_str(&format!(", {} projected on AWS", duration_secs(p.seconds)));
    }
    if let Some(v) = limit {
        text.push_str(&format!(", policy {}", md(&v.limit)));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_punctuation_is_escaped() {
        for (raw, safe) in [
            (
                "task 3f2a in us-east-1 (us-east-1a)",
                "task 3f2a in us-east-1 (us-east-1a)",
            ),
            ("<script>", "\\<script\\>"),
            ("a|b*c_d", "a\\|b\\*c\\_d"),
            ("two\nlines", "two lines"),
        ] {
            assert_eq!(md(raw), safe, "{raw}");
        }
    }
}
