//! `haven cost`: the spec's monthly AWS estimate per region and line item, the seed's estimate
//! beside it, and what each cost option saves.

use std::path::Path;
use std::process::ExitCode;

use haven_cost::{Assumptions, Estimate, LineItem, Options, dollars, num, unit_dollars};

use crate::printer::Printer;

/// The command's options; `None` keeps an assumption's default.
#[derive(Debug, Clone, Default)]
pub struct CostArgs {
    /// `--arm64`: price every task on ARM64 (Graviton).
    pub arm64: bool,
    /// `--spot-staging`: price staging's tasks on Fargate Spot.
    pub spot_staging: bool,
    /// `--nat single|per-az`: NAT gateways for every region, instead of each region's `nat`.
    pub nat: Option<haven_spec::model::NatMode>,
    /// `--nat-gb`: GB a month through each region's NAT gateways.
    pub nat_gb: Option<f64>,
    /// `--log-gb`: GB of logs ingested a month per region.
    pub log_gb: Option<f64>,
    /// `--lcu`: average LCUs of a production ALB.
    pub lcu: Option<f64>,
    /// `--builds-per-month`: pipeline runs (pushes) a month.
    pub builds_per_month: Option<u32>,
    /// `--build-time`: CodeBuild minutes per run.
    pub build_minutes: Option<f64>,
    /// `--image-gb`: GB of ECR storage per image.
    pub image_gb: Option<f64>,
    /// `--images`: images kept per repository, instead of the lifecycle rules' figure.
    pub images: Option<u32>,
    /// `--spot-discount`: Fargate Spot's discount on on-demand, in percent.
    pub spot_discount: Option<f64>,
}

impl CostArgs {
    fn options(&self) -> anyhow::Result<Options> {
        let d = Assumptions::default();
        let assumptions = Assumptions {
            nat_gb: self.nat_gb.unwrap_or(d.nat_gb),
            log_gb: self.log_gb.unwrap_or(d.log_gb),
            alb_lcu: self.lcu.unwrap_or(d.alb_lcu),
            builds_per_month: self.builds_per_month.unwrap_or(d.builds_per_month),
            build_minutes: self.build_minutes.unwrap_or(d.build_minutes),
            image_gb: self.image_gb.unwrap_or(d.image_gb),
            images: self.images.or(d.images),
            spot_discount_percent: self.spot_discount.unwrap_or(d.spot_discount_percent),
            ..d
        };
        assumptions.validate()?;
        Ok(Options {
            arm64: self.arm64,
            spot_staging: self.spot_staging,
            nat: self.nat,
            assumptions,
        })
    }
}

pub fn run(printer: &Printer, spec: &Path, opts: CostArgs) -> anyhow::Result<ExitCode> {
    let options = opts.options()?;
    let loaded = super::spec::load_valid(printer, spec)?;
    let estimate = haven_cost::estimate(&loaded.spec, &options);
    if printer.json {
        printer.out_json(&estimate)?;
    } else {
        printer.out(render(&estimate).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// The estimate as text: a table per region and for the account, then the total, the seed's
/// figures beside these, the savings, the assumptions, notes and where the prices come from.
fn render(e: &Estimate) -> String {
    let mut out = String::new();
    let nat = match e.options.nat {
        None => "NAT as each region's spec says",
        Some(haven_spec::model::NatMode::Single) => "one NAT gateway per region",
        Some(haven_spec::model::NatMode::PerAz) => "a NAT gateway per AZ",
    };
    let arch = match e.options.architecture {
        haven_spec::model::Architecture::X86_64 => "x86_64",
        haven_spec::model::Architecture::Arm64 => "ARM64",
    };
    let staging = if e.options.spot_staging {
        "staging on Spot"
    } else {
        "staging on demand"
    };
    out.push_str(&format!(
        "{}: AWS estimate per month ({arch} tasks, {staging}, {nat})\n\n",
        e.project
    ));

    let mut tables: Vec<(String, &[LineItem], f64)> = e
        .regions
        .iter()
        .map(|r| {
            let role = match r.role {
                haven_spec::model::Role::Primary => "primary",
                haven_spec::model::Role::Secondary => "secondary",
            };
            (format!("{} ({role})", r.region), &r.items[..], r.total)
        })
        .collect();
    tables.push(("Account-wide".into(), &e.global[..], e.global_total));
    for (title, items, total) in tables {
        out.push_str(&table(&title, items, total));
        out.push('\n');
    }
    out.push_str(&format!("Total: {} a month\n\n", dollars(e.total)));

    out.push_str(&seed(e));
    out.push('\n');

    out.push_str("Savings:\n");
    let width = e.savings.iter().map(|s| s.option.len()).max().unwrap_or(0);
    for s in &e.savings {
        let amount = if s.monthly_saving > 0.0 {
            format!("saves {}", dollars(s.monthly_saving))
        } else if s.monthly_saving < 0.0 {
            format!("costs {} more", dollars(-s.monthly_saving))
        } else {
            "saves nothing".to_owned()
        };
        let how = if s.applied {
            "in effect".to_owned()
        } else {
            match s.option {
                "arm64" => "--arm64".to_owned(),
                "spot-staging" => "--spot-staging".to_owned(),
                "single-nat" => "--nat single".to_owned(),
                other => other.to_owned(),
            }
        };
        out.push_str(&format!(
            "  {:<width$}  {amount:>18} a month  {} ({how})\n",
            s.option, s.description
        ));
    }
    out.push('\n');

    let a = &e.assumptions;
    out.push_str(&wrap(
        &format!(
            "Assumptions (per month): {} GB through NAT per region (--nat-gb), {} GB of logs per \
             region (--log-gb), {} LCU per production ALB (--lcu), {} LCU for staging's, {} \
             pipeline runs (--builds-per-month) of {} build minutes (--build-time) and {} \
             minutes per deploy, {} images (--images) of {} GB (--image-gb), Spot at {}% off \
             (--spot-discount), {} SNS e-mails.",
            num(a.nat_gb),
            num(a.log_gb),
            num(a.alb_lcu),
            num(a.staging_alb_lcu),
            a.builds_per_month,
            num(a.build_minutes),
            num(a.deploy_minutes),
            a.images.unwrap_or(0),
            num(a.image_gb),
            num(a.spot_discount_percent),
            a.sns_emails,
        ),
        "",
        "",
    ));
    out.push('\n');
    out.push_str("Notes:\n");
    for note in &e.notes {
        out.push_str(&wrap(note, "  - ", "    "));
    }
    out.push('\n');
    out.push_str(&wrap(
        &format!(
            "Prices: gathered {} from the sources named in `--json` (prices.entries): {}. {}.",
            e.prices.gathered, e.prices.scope, e.prices.spot
        ),
        "",
        "",
    ));
    out
}

/// One region's (or the account's) lines as aligned columns.
fn table(title: &str, items: &[LineItem], total: f64) -> String {
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|i| {
            let free = if i.free > 0.0 {
                format!(" ({} free)", num(i.free))
            } else {
                String::new()
            };
            [
                i.name.clone(),
                format!("{} {}{free}", num(i.quantity), unit(i.quantity, i.unit)),
                unit_dollars(i.unit_price),
                dollars(i.monthly),
                i.detail.clone(),
            ]
        })
        .collect();
    let header = [
        "Item".to_owned(),
        "Quantity".to_owned(),
        "Unit price".to_owned(),
        "Monthly".to_owned(),
        "Counted as".to_owned(),
    ];
    let footer = [
        "Total".to_owned(),
        String::new(),
        String::new(),
        dollars(total),
        String::new(),
    ];
    let all = || {
        std::iter::once(&header)
            .chain(&rows)
            .chain(std::iter::once(&footer))
    };
    let w: Vec<usize> = (0..5)
        .map(|c| all().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{title}\n");
    for r in all() {
        let line = format!(
            "  {:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `dashboard-months`, but `1 dashboard-month`.
fn unit(quantity: f64, unit: &str) -> &str {
    if quantity == 1.0 {
        unit.strip_suffix('s').unwrap_or(unit)
    } else {
        unit
    }
}

/// The seed's items and totals per region beside this estimate's, then the summary.
fn seed(e: &Estimate) -> String {
    let s = &e.seed;
    let range = |low: f64, high: f64| format!("${}-{}", num(low), num(high));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["Item".to_owned(), "Seed".to_owned()];
    header.extend(s.regions.iter().map(|r| r.region.clone()));
    rows.push(header);
    for c in &s.categories {
        let mut row = vec![c.name.to_owned(), range(c.low, c.high)];
        row.extend(c.amounts.iter().map(|a| dollars(*a)));
        rows.push(row);
    }
    // What the seed's items leave out: the rest of each region's total.
    let mut other = vec!["Not in the seed".to_owned(), "-".to_owned()];
    other.extend(s.regions.iter().enumerate().map(|(i, r)| {
        let seen: f64 = s.categories.iter().filter_map(|c| c.amounts.get(i)).sum();
        dollars(r.total - seen)
    }));
    rows.push(other);
    let mut total = vec!["Total".to_owned(), range(s.low, s.high)];
    total.extend(s.regions.iter().map(|r| dollars(r.total)));
    rows.push(total);

    let columns = rows.first().map_or(0, Vec::len);
    let w: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from("Against the seed's estimate (per region):\n");
    for r in &rows {
        let mut line = format!("  {:<w0$}", r[0], w0 = w[0]);
        for (c, v) in r.iter().enumerate().skip(1) {
            line.push_str(&format!("  {v:>width$}", width = w[c]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&wrap(&s.text, "  ", "  "));
    out
}

/// Wraps text at 96 columns, the first line after `first`, the rest after `rest`.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    const WIDTH: usize = 96;
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn default_estimate(args: &CostArgs) -> Estimate {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
        let text = "[project]\nname = \"hello\"\n[service]\ncommand = [\"bin/hello\"]\n";
        let spec = haven_spec::load_str(text, Path::new("haven.toml"), dir.path())
            .unwrap()
            .spec;
        haven_cost::estimate(&spec, &args.options().unwrap())
    }

    #[test]
    fn text_shows_lines_totals_seed_and_savings() {
        let text = render(&default_estimate(&CostArgs::default()));
        for want in [
            "us-east-1 (primary)",
            "Fargate production vCPU",
            "730 vCPU-hours",
            "$0.04048",
            "$148.33",
            "us-west-2 (secondary)",
            "$106.41",
            "Account-wide",
            "1,640 action-minutes (100 free)",
            "Total: $258.82 a month",
            "Against the seed's estimate",
            "$100-150",
            "saves $18.00 a month",
            "(--arm64)",
            "(in effect)",
            "gathered 2026-11-25",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn flags_reach_the_estimate() {
        let e = default_estimate(&CostArgs {
            nat: Some(haven_spec::model::NatMode::PerAz),
            nat_gb: Some(100.0),
            arm64: true,
            ..CostArgs::default()
        });
        assert_eq!(e.options.nat, Some(haven_spec::model::NatMode::PerAz));
        assert_eq!(e.assumptions.nat_gb, 100.0);
        let bad = CostArgs {
            log_gb: Some(f64::NAN),
            ..CostArgs::default()
        };
        assert!(bad.options().is_err());
    }
}
