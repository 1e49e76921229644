//! `haven logs`: the CloudWatch Logs twin's groups, and one group's events merged by time, read
//! from the state directory (so it works whether or not the twin is running).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_control::paths::Paths;
use haven_logs::{Events, Group, Query, time};
use haven_spec::Spec;

use crate::printer::{Printer, table};

/// How often `--follow` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

pub struct LogsArgs {
    pub group: Option<String>,
    pub follow: bool,
    pub since: Option<haven_spec::Dur>,
    pub grep: Option<String>,
    pub region: Option<String>,
}

pub fn run(printer: &Printer, spec_path: &Path, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec_path)?;
    let spec = loaded.spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    if let Some(r) = &args.region {
        if spec.region(r).is_none() {
            let names: Vec<&str> = spec.regions.iter().map(|r| r.name.as_str()).collect();
            bail!(
                "--region: the spec has no region `{r}` (its regions: {})",
                names.join(", ")
            );
        }
    }
    let Some(group) = args.group.as_deref() else {
        if args.follow || args.since.is_some() || args.grep.is_some() {
            bail!("--follow, --since and --grep read one group: `haven logs GROUP`");
        }
        return list(printer, &spec, &paths, args.region.as_deref());
    };
    let region = args
        .region
        .clone()
        .unwrap_or_else(|| spec.primary().name.clone());
    let group = find_group(&spec, &paths, &region, group)?;
    let since_ms = match args.since {
        Some(d) => {
            let ms = u64::try_from(Duration::from(d).as_millis()).unwrap_or(u64::MAX);
            Some(time::now_ms().saturating_sub(ms))
        }
        None => None,
    };
    let query = Query {
        since_ms,
        grep: args.grep.clone(),
    };
    let context = || format!("cannot read log group {} in {region}", group.name);
    if args.follow {
        let mut events = Events::follow(&group, query).with_context(context)?;
        loop {
            for e in events.by_ref() {
                print_event(printer, &region, &e.with_context(context)?)?;
            }
            // A poll interval, as `aws logs tail --follow` polls: files have no push.
            std::thread::sleep(FOLLOW_INTERVAL);
            events.refresh().with_context(context)?;
        }
    }
    let mut shown = 0usize;
    for e in Events::read(&group, query).with_context(context)? {
        print_event(printer, &region, &e.with_context(context)?)?;
        shown += 1;
    }
    if shown == 0 {
        let since = args
            .since
            .map(|s| format!(" in the last {s}"))
            .unwrap_or_default();
        let grep = args
            .grep
            .as_deref()
            .map(|g| format!(" containing `{g}`"))
            .unwrap_or_default();
        printer.status(
            "No events",
            &format!("in {} ({region}){since}{grep}", group.name),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(printer: &Printer, region: &str, e: &haven_logs::Event) -> anyhow::Result<()> {
    if printer.json {
        // One object a line, so that `--follow --json` can be read as it comes.
        let line = serde_json::to_string(&serde_json::json!({
            "timestamp": time::rfc3339(e.timestamp_ms),
            "stream": &*e.stream,
            "message": e.message,
            "region": region,
        }))?;
        printer.out(&line);
    } else {
        printer.out(&format!(
            "{} {} {}",
            time::rfc3339(e.timestamp_ms),
            e.stream,
            e.message
        ));
    }
    Ok(())
}

/// The group named `name` in `region`; otherwise an error naming the groups there (and the
/// region that has it, if another does).
fn find_group(spec: &Spec, paths: &Paths, region: &str, name: &str) -> anyhow::Result<Group> {
    let groups = haven_twin::logs::groups(spec, paths, region);
    if let Some(g) = groups.iter().find(|g| g.name == name) {
        return Ok(g.clone());
    }
    for other in spec.regions.iter().filter(|r| r.name != region) {
        if haven_twin::logs::groups(spec, paths, &other.name)
            .iter()
            .any(|g| g.name == name)
        {
            bail!(
                "log group `{name}` is in {}, not {region}: add `--region {}`",
                other.name,
                other.name
            );
        }
    }
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let hint = haven_spec::did_you_mean(name, names.iter().copied())
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    bail!(
        "no log group `{name}` in {region}{hint}\nits groups: {}",
        names.join(", ")
    )
}

/// `haven logs ls`: every group of every region (or of one), as DescribeLogGroups lists them.
fn list(
    printer: &Printer,
    spec: &Spec,
    paths: &Paths,
    region: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for r in spec
        .regions
        .iter()
        .filter(|r| region.is_none_or(|n| n == r.name))
    {
        for g in haven_twin::logs::groups(spec, paths, &r.name) {
            let info = g
                .info()
                .with_context(|| format!("cannot read log group {} in {}", g.name, r.name))?;
            rows.push((r.name.clone(), info));
        }
    }
    if printer.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(region, i)| {
                serde_json::json!({
                    "region": region,
                    "name": i.name,
                    "streams": i.streams,
                    "stored_bytes": i.stored_bytes,
                    "retention_days": i.retention_days,
                    "last_event": i.last_event_ms.map(time::rfc3339),
                })
            })
            .collect();
        printer.out_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table_rows = vec![[
        "REGION".to_owned(),
        "GROUP".to_owned(),
        "STREAMS".to_owned(),
        "STORED".to_owned(),
        "RETENTION".to_owned(),
        "LAST EVENT".to_owned(),
    ]];
    for (region, i) in rows {
        table_rows.push([
            region,
            i.name,
            i.streams.to_string(),
            size(i.stored_bytes),
            i.retention_days
                .map_or_else(|| "never expire".to_owned(), |d| format!("{d} days")),
            i.last_event_ms
                .map_or_else(|| "-".to_owned(), time::rfc3339),
        ]);
    }
    printer.out(&table(&table_rows));
    Ok(ExitCode::SUCCESS)
}

/// Bytes in the units `du -h` would pick.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}
