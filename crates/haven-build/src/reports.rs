//! `reports`: finding a report group's JUnit XML files and counting their test cases.
//!
//! Each `<testcase>` counts once, with the status of its first `<error>`, `<failure>` or
//! `<skipped>` child (CodeBuild's ERROR, FAILED, SKIPPED), else SUCCEEDED. `<testsuites>`
//! and nested `<testsuite>` elements only name the cases. A file that is not well-formed XML
//! makes the report INCOMPLETE; a report never changes the build's status, as on CodeBuild.

use std::fs;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

use crate::glob;
use crate::spec::ReportGroup;

/// One report group's report for this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The group as written in the buildspec (a name or an ARN).
    pub group: String,
    /// The report group's name on CodeBuild: `<project>-<group>`, or the name in the ARN.
    pub name: String,
    pub status: ReportStatus,
    /// Report files, relative to the source directory.
    pub files: Vec<PathBuf>,
    pub total: u32,
    pub passed: u32,
    pub failed: u32,
    pub errored: u32,
    pub skipped: u32,
    /// Every test case, in file order.
    pub cases: Vec<TestCase>,
    /// Why the report is incomplete.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportStatus {
    /// Every test case succeeded or was skipped.
    Succeeded,
    /// At least one test case failed or errored.
    Failed,
    /// A report file could not be read or parsed.
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestCase {
    /// The enclosing `<testsuite name>`, if any.
    pub suite: Option<String>,
    /// `classname` attribute, if any.
    pub class: Option<String>,
    pub name: String,
    pub status: CaseStatus,
    /// The failure's `message` attribute, if any.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaseStatus {
    Succeeded,
    Skipped,
    Failed,
    Error,
}

/// Builds the report for `group`, or `None` when no file matched (logged).
pub(crate) fn collect(
    group: &ReportGroup,
    project: &str,
    src: &Path,
    log: &mut dyn FnMut(String),
) -> Option<Report> {
    let bases = match &group.base_directory {
        None => vec![PathBuf::new()],
        Some(pattern) => match glob::expand_dirs(src, pattern) {
            Ok(found) if !found.is_empty() => found,
            Ok(_) => {
                log(format!(
                    "Report group {}: no matching base directory path found for {pattern}",
                    group.name
                ));
                return None;
            }
            Err(e) => {
                log(format!("Report group {}: {pattern}: {e}", group.name));
                return None;
            }
        },
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for base in &bases {
        for pattern in &group.files {
            match glob::expand_files(&src.join(base), pattern) {
                Ok(found) => files.extend(found.into_iter().map(|f| base.join(f.rel))),
                Err(e) => problems.push(format!("{pattern}: {e}")),
            }
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() && problems.is_empty() {
        log(format!(
            "Report group {}: no matching report paths found",
            group.name
        ));
        return None;
    }
    let mut cases = Vec::new();
    for file in &files {
        match fs::read_to_string(src.join(file)) {
            Ok(text) => match parse_junit(&text) {
                Ok(found) => cases.extend(found),
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            },
            Err(e) => problems.push(format!("{}: {e}", file.display())),
        }
    }
    let count = |s: CaseStatus| {
        u32::try_from(cases.iter().filter(|c| c.status == s).count()).unwrap_or(u32::MAX)
    };
    let (passed, failed, errored, skipped) = (
        count(CaseStatus::Succeeded),
        count(CaseStatus::Failed),
        count(CaseStatus::Error),
        count(CaseStatus::Skipped),
    );
    let status = if !problems.is_empty() {
        ReportStatus::Incomplete
    } else if failed + errored > 0 {
        ReportStatus::Failed
    } else {
        ReportStatus::Succeeded
    };
    let report = Report {
        group: group.name.clone(),
        name: report_group_name(project, &group.name),
        status,
        files,
        total: u32::try_from(cases.len()).unwrap_or(u32::MAX),
        passed,
        failed,
        errored,
        skipped,
        cases,
        message: (!problems.is_empty()).then(|| problems.join("; ")),
    };
    log(format!(
        "Report group {}: {} file(s), {} test case(s): {} passed, {} failed, {} error(s), {} skipped{}",
        report.name,
        report.files.len(),
        report.total,
        report.passed,
        report.failed,
        report.errored,
        report.skipped,
        report
            .message
            .as_deref()
            .map(|m| format!(" (incomplete: {m})"))
            .unwrap_or_default()
    ));
    Some(report)
}

/// CodeBuild names a group created from a buildspec `<project>-<group>`; an ARN names an
/// existing group.
fn report_group_name(project: &str, group: &str) -> String {
    match group.strip_prefix("arn:") {
        Some(_) => group
            .rsplit_once("report-group/")
            .map_or(group, |(_, name)| name)
            .to_owned(),
        None => format!("{project}-{group}"),
    }
}

/// The test cases of one JUnit XML document.
pub(crate) fn parse_junit(text: &str) -> Result<Vec<TestCase>, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut suites: Vec<Option<String>> = Vec::new();
    let mut current: Option<TestCase> = None;
    let mut cases = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"testsuite" => suites.push(attr(&e, "name")),
                b"testcase" => current = Some(case(&e, &suites)),
                _ => outcome(&e, current.as_mut()),
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"testcase" => cases.push(case(&e, &suites)),
                _ => outcome(&e, current.as_mut()),
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"testsuite" => {
                    suites.pop();
                }
                b"testcase" => cases.extend(current.take()),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if suites.is_empty() && current.is_none() {
        Ok(cases)
    } else {
        Err("unexpected end of document".into())
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        // Attribute value normalization as XML 1.0 specifies (entities resolved, whitespace kept).
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn case(e: &BytesStart<'_>, suites: &[Option<String>]) -> TestCase {
    TestCase {
        suite: suites.iter().rev().flatten().next().cloned(),
        class: attr(e, "classname"),
        name: attr(e, "name").unwrap_or_default(),
        status: CaseStatus::Succeeded,
        message: None,
    }
}

/// Applies a `<failure>`, `<error>` or `<skipped>` child to the open test case.
fn outcome(e: &BytesStart<'_>, current: Option<&mut TestCase>) {
    let Some(case) = current else {
        return;
    };
    let status = match e.local_name().as_ref() {
        b"failure" => CaseStatus::Failed,
        b"error" => CaseStatus::Error,
        b"skipped" => CaseStatus::Skipped,
        _ => return,
    };
    if case.status == CaseStatus::Succeeded {
        case.status = status;
        case.message = attr(e, "message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cases() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="outer" tests="5">
    <testcase classname="a" name="ok"/>
    <testcase classname="a" name="ok2"><system-out>hi</system-out></testcase>
    <testcase classname="a" name="bad"><failure message="x &lt; y"><![CDATA[trace]]></failure></testcase>
    <testcase classname="a" name="boom"><error message="panic"/></testcase>
    <testsuite name="inner">
      <testcase name="later"><skipped/></testcase>
    </testsuite>
  </testsuite>
</testsuites>"#;
        let cases = parse_junit(xml).unwrap();
        let statuses: Vec<_> = cases.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [
                CaseStatus::Succeeded,
                CaseStatus::Succeeded,
                CaseStatus::Failed,
                CaseStatus::Error,
                CaseStatus::Skipped
            ]
        );
        assert_eq!(cases[2].message.as_deref(), Some("x < y"));
        assert_eq!(cases[4].suite.as_deref(), Some("inner"));
        assert_eq!(cases[0].suite.as_deref(), Some("outer"));
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(parse_junit("<testsuite><testcase name='a'></testsuite>").is_err());
        assert!(parse_junit("<testsuite>").is_err());
        assert_eq!(parse_junit("<testsuites/>").unwrap(), []);
    }

    #[test]
    fn group_names() {
        assert_eq!(report_group_name("hello", "unit"), "hello-unit");
        assert_eq!(
            report_group_name(
                "hello",
                "arn:aws:codebuild:us-east-1:123:report-group/shared"
            ),
            "shared"
        );
    }
}
