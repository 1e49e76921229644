//! `haven drill run|ls|show`: disaster-recovery drills against the running twin, and their
//! reports.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_drill::store;
use haven_drill::{Report, Scenario};

use crate::cli::DrillCommand;
use crate::printer::{Printer, Style, table};

struct Steps<'a>(&'a Printer);

impl haven_drill::Progress for Steps<'_> {
    fn step(&self, verb: &str, message: &str) {
        self.0.status(verb, message);
    }
}

pub fn run(printer: &Printer, spec: &Path, command: DrillCommand) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    match command {
        DrillCommand::Run {
            scenarios,
            all,
            load,
            image,
        } => {
            let scenarios: Vec<Scenario> = if all {
                Scenario::ALL.to_vec()
            } else {
                scenarios.into_iter().map(Scenario::from).collect()
            };
            drill(printer, &loaded.spec, &paths, &scenarios, load, image)
        }
        DrillCommand::Ls => ls(printer, &paths),
        DrillCommand::Show { run } => show(printer, &paths, &run),
    }
}

fn drill(
    printer: &Printer,
    spec: &haven_spec::Spec,
    paths: &Paths,
    scenarios: &[Scenario],
    rps: Option<u32>,
    image: Option<String>,
) -> anyhow::Result<ExitCode> {
    let client = Client::connect(paths)?;
    let rt = super::runtime()?;
    let options = haven_drill::RunOptions { rps, image };
    // Ctrl-C ends the drill early, but never leaves its fault in place: a region stays down,
    // or the regions stay cut, only while a drill watches them.
    let steps = Steps(printer);
    let report = rt.block_on(async {
        tokio::select! {
            r = haven_drill::run(spec, paths, &client, scenarios, &options, &steps) => {
                r.map(Some)
            }
            _ = tokio::signal::ctrl_c() => Ok(None),
        }
    })?;
    let Some(report) = report else {
        printer.status("Interrupted", "healing every fault the drill made");
        rt.block_on(haven_drill::heal_all(&client)).context(
            "the drill was interrupted and its faults could not be healed; run `haven chaos heal`",
        )?;
        printer.status(
            "Healed",
            "the twin; no report was written for the interrupted run",
        );
        return Ok(ExitCode::from(130));
    };
    let dir = store::save(paths, &report)?;
    if printer.json {
        printer.out_json(&report)?;
    } else {
        print_summary(printer, &report);
    }
    printer.status(
        "Report",
        &format!("{}", dir.join(store::REPORT_HTML).display()),
    );
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One line per drill: its verdict and headline figures, then each missed check.
fn print_summary(printer: &Printer, report: &Report) {
    for d in &report.drills {
        let verdict = if d.passed {
            printer.paint(Style::Good, "passed")
        } else {
            printer.paint(Style::Bad, "missed")
        };
        printer.out(&format!(
            "{verdict} {}: {}",
            d.scenario,
            haven_drill::headline(d)
        ));
    }
}

fn ls(printer: &Printer, paths: &Paths) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for id in store::ids(paths)? {
        rows.push((id.clone(), store::read(paths, &id)));
    }
    if printer.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, r)| match r {
                Ok(r) => serde_json::json!({
                    "id": id,
                    "started_at": r.started_at,
                    "passed": r.passed,
                    "scenarios": r.drills.iter().map(|d| d.scenario).collect::<Vec<_>>(),
                    "report": paths.drill_run(id).join(store::REPORT_HTML),
                }),
                Err(e) => serde_json::json!({ "id": id, "error": e.to_string() }),
            })
            .collect();
        printer.out_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        printer.err_text("No drill has run yet; `haven drill run SCENARIO` runs one.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = vec![vec![
        "RUN".to_owned(),
        "STARTED".to_owned(),
        "RESULT".to_owned(),
        "SCENARIOS".to_owned(),
    ]];
    for (id, r) in &rows {
        out.push(match r {
            Ok(r) => vec![
                id.clone(),
                r.started_at.clone(),
                if r.passed { "passed" } else { "missed" }.to_owned(),
                r.drills
                    .iter()
                    .map(|d| d.scenario.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            ],
            Err(e) => vec![id.clone(), "-".into(), "unreadable".into(), e.to_string()],
        });
    }
    printer.out(&table(&out));
    Ok(ExitCode::SUCCESS)
}

fn show(printer: &Printer, paths: &Paths, reference: &str) -> anyhow::Result<ExitCode> {
    let id = store::resolve(paths, reference)?;
    let report = store::read(paths, &id)?;
    if printer.json {
        printer.out_json(&report)?;
    } else {
        printer.out(haven_drill::markdown::render(&report).trim_end());
    }
    printer.status(
        "Report",
        &format!(
            "{}",
            paths.drill_run(&id).join(store::REPORT_HTML).display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}
