//! `haven net reach`: reachability from the network model, with what decides it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use haven_net::{Decision, Place, Vpc};

use crate::cli::NetCommand;
use crate::printer::{Printer, Style};

pub fn run(printer: &Printer, spec: &Path, command: NetCommand) -> anyhow::Result<ExitCode> {
    let NetCommand::Reach {
        from,
        to,
        region,
        probe,
    } = command;
    let loaded = super::spec::load_valid(printer, spec)?;
    let spec = loaded.spec;
    // Bad input exits 2, apart from a blocked path's 1.
    let usage = |message: String| {
        printer.error(&message);
        Ok(ExitCode::from(2))
    };
    let region = match &region {
        Some(name) => match spec.regions.iter().find(|r| r.name == *name) {
            Some(r) => r,
            None => return usage(format!("the spec has no region `{name}` (--region)")),
        },
        None => spec.primary(),
    };
    let vpc = Vpc::of(&spec, region);
    let Some((to, port)) = to.rsplit_once(':') else {
        return usage(format!(
            "`{to}` has no port: write it as PLACE:PORT, e.g. `task:8080`"
        ));
    };
    let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
        return usage(format!("`{port}` is not a port (1 to 65535)"));
    };
    let from = match Place::parse(&from, &vpc) {
        Ok(p) => p,
        Err(e) => return usage(format!("FROM: {e}")),
    };
    let to = match Place::parse(to, &vpc) {
        Ok(p) => p,
        Err(e) => return usage(format!("TO: {e}")),
    };
    let verdict = haven_net::reach(&vpc, &from, &to, port);
    let probed = if probe {
        // A prefix of its own: nothing of a running twin is touched, and the copy goes after.
        let prefix = format!("q{}", std::process::id());
        let _spinner = printer.spinner("probing on a copy of the VPC");
        Some(
            haven_vpc::probe(&prefix, &vpc, &from, &to, port)
                .context("the probe could not run (it needs root, `ip` and `nft`)")?,
        )
    } else {
        None
    };
    let agrees = probed
        .as_ref()
        .is_none_or(|p| p.connected == verdict.allowed);
    let code = if verdict.allowed && agrees {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if printer.json {
        printer.out_json(&serde_json::json!({
            "verdict": verdict,
            "probe": probed,
        }))?;
        return Ok(code);
    }
    let mut rows = vec![["CHECK".to_owned(), "RESULT".to_owned(), "BY".to_owned()]];
    for s in &verdict.steps {
        rows.push([
            s.check.clone(),
            match s.decision {
                Decision::Allow => "allow".to_owned(),
                Decision::Deny => "deny".to_owned(),
            },
            s.by.clone(),
        ]);
    }
    printer.out(&crate::printer::table(&rows));
    let summary = format!(
        "{} → {}:{} in {}",
        verdict.from, verdict.to, verdict.port, region.name
    );
    if verdict.allowed {
        printer.out(&format!(
            "{}: {summary}",
            printer.paint(Style::Good, "allowed")
        ));
    } else {
        printer.out(&format!(
            "{}: {summary}",
            printer.paint(Style::Bad, "blocked")
        ));
    }
    if let Some(p) = &probed {
        let seen = match (&p.error, p.connected) {
            (_, true) => "connected".to_owned(),
            (Some(e), false) => format!("not connected ({e})"),
            (None, false) => "not connected".to_owned(),
        };
        printer.out(&format!("probe: {seen}"));
        for c in &p.counted {
            printer.out(&format!("  counted by {c}"));
        }
        if !agrees {
            printer.error("the model and the probe disagree: please report it");
        }
    }
    Ok(code)
}
