//! `haven metrics get` and `haven alarm ls|history`: the CloudWatch twin's metrics and alarms.

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_control::api::{RegionState, Status};
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_metrics::{AlarmStatus, HistoryItem, MetricStore, Query, Retention, Stat, StateValue};

use crate::cli::MetricsArgs;
use crate::printer::{Printer, table};

/// `haven metrics get`: GetMetricStatistics on a region's store (read-only; works whether or
/// not the twin is running).
pub fn get(printer: &Printer, spec: &Path, args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let spec = loaded.spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    let region = args.region.unwrap_or_else(|| spec.primary().name.clone());
    if spec.region(&region).is_none() {
        bail!("the spec has no region `{region}`");
    }
    let db = paths.region_dir(&region).join("metrics.db");
    if !db.is_file() {
        bail!(
            "{region} has recorded no metrics yet (no {}); start the twin with `haven up`",
            db.display()
        );
    }
    let store = MetricStore::open_read_only(&db, Retention::default())
        .with_context(|| format!("cannot open {}", db.display()))?;
    let (period, since) = (args.period, args.since);
    let stats: Vec<Stat> = if args.stats.is_empty() {
        vec![Stat::Average]
    } else {
        args.stats
            .iter()
            .map(|s| {
                Stat::from_str(s).with_context(|| {
                    format!("--stat `{s}`: Average, Sum, Minimum, Maximum, SampleCount or pNN")
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let now = haven_time::now();
    let mut query = Query::new(&args.namespace, &args.metric, now)
        .stats(&stats)
        .period(Duration::from(period))
        .range(now - Duration::from(since), now);
    for (k, v) in &args.dims {
        query = query.dim(k, v);
    }
    let points = store
        .get_statistics(&query, now)
        .context("cannot get the statistics")?;
    if printer.json {
        printer.out_json(&serde_json::json!({
            "Label": args.metric,
            "Region": region,
            "Datapoints": points,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if points.is_empty() {
        let known = store
            .list_metrics(Some(&args.namespace), now)
            .unwrap_or_default();
        printer.out(&format!(
            "no datapoints for {} {} in the last {since}",
            args.namespace, args.metric
        ));
        if !known.is_empty() {
            printer.out("metrics in this namespace:");
            for m in known {
                let dims: Vec<String> = m.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
                printer.out(&format!("  {} {}", m.name, dims.join(" ")));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = stats.iter().map(|s| s.name()).collect();
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("TIMESTAMP".to_owned())
            .chain(names.iter().cloned())
            .collect(),
    ];
    for p in &points {
        let mut row = vec![haven_metrics::rfc3339(p.timestamp)];
        row.extend(names.iter().map(|n| {
            p.values
                .get(n)
                .map_or("-".to_owned(), |v| format!("{v:.2}"))
        }));
        rows.push(row);
    }
    let width = rows[0].len();
    for row in rows {
        let mut cells: Vec<String> = row;
        cells.resize(width, String::new());
        printer.out(&cells.join("  "));
    }
    Ok(ExitCode::SUCCESS)
}

fn connect(
    printer: &Printer,
    spec: &Path,
) -> anyhow::Result<(Client, tokio::runtime::Runtime, Status)> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    let client = Client::connect(&paths)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = rt.block_on(client.get("/status"))?;
    Ok((client, rt, status))
}

/// One alarm of one region, as `haven alarm ls --json` prints it.
#[derive(serde::Serialize)]
struct AlarmRow<'a> {
    name: &'a str,
    region: &'a str,
    namespace: &'a str,
    metric: &'a str,
    statistic: Stat,
    threshold: f64,
    comparison: haven_metrics::Comparison,
    state: StateValue,
    reason: &'a str,
    updated_at: String,
}

/// `haven alarm ls`: every alarm of every running region with its state.
pub fn alarms(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let (client, rt, status) = connect(printer, spec)?;
    let mut lists = Vec::new();
    for r in status
        .regions
        .iter()
        .filter(|r| r.state == RegionState::Running)
    {
        let list: Vec<AlarmStatus> =
            rt.block_on(client.get(&format!("/regions/{}/alarms", r.name)))?;
        lists.push((r.name.as_str(), list));
    }
    let all: Vec<AlarmRow<'_>> = lists
        .iter()
        .flat_map(|(region, list)| {
            list.iter().map(move |a| AlarmRow {
                name: &a.spec.name,
                region,
                namespace: &a.spec.namespace,
                metric: &a.spec.metric,
                statistic: a.spec.stat,
                threshold: a.spec.threshold,
                comparison: a.spec.comparison,
                state: a.state,
                reason: &a.reason,
                updated_at: haven_metrics::rfc3339(a.updated_at),
            })
        })
        .collect();
    if printer.json {
        printer.out_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![["ALARM", "REGION", "STATE", "METRIC", "THRESHOLD"].map(str::to_owned)];
    for a in &all {
        rows.push([
            a.name.to_owned(),
            a.region.to_owned(),
            a.state.as_str().to_owned(),
            format!("{} {}", a.namespace, a.metric),
            a.threshold.to_string(),
        ]);
    }
    printer.out(&table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `haven alarm history NAME`: the alarm's state changes, newest first.
pub fn history(
    printer: &Printer,
    spec: &Path,
    name: &str,
    region: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (client, rt, status) = connect(printer, spec)?;
    let regions: Vec<&str> = status
        .regions
        .iter()
        .filter(|r| r.state == RegionState::Running && region.is_none_or(|x| x == r.name))
        .map(|r| r.name.as_str())
        .collect();
    for r in regions {
        let items: Result<Vec<HistoryItem>, _> =
            rt.block_on(client.get(&format!("/regions/{r}/alarms/{name}/history")));
        match items {
            Ok(items) => {
                if printer.json {
                    printer.out_json(&items)?;
                } else {
                    for item in &items {
                        printer.out(&format!(
                            "{}  {}  {}",
                            haven_metrics::rfc3339(item.at),
                            item.summary,
                            item.reason.as_deref().unwrap_or_default()
                        ));
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(haven_control::Error::Api { status: 404, .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("no alarm `{name}`; `haven alarm ls` lists them")
}
