//! `haven release`, `haven rollback` and `haven release ls`: blue/green releases on the twin.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_control::api::{ReleaseStarted, StartRelease, Status};
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_spec::model::{Role, Strategy};
use haven_state::{Release, ReleaseState};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::printer::{Printer, Style};

pub struct ReleaseArgs {
    pub image: String,
    pub region: Option<String>,
    pub strategy: Option<Strategy>,
    pub environment: String,
}

/// A region's release as `haven release ls --json` prints it: the region's record, and the region.
#[derive(Serialize)]
struct RegionRelease {
    #[serde(flatten)]
    release: Release,
    region: String,
}

struct Ctx {
    printer: Printer,
    spec: haven_spec::Spec,
    paths: Paths,
    client: Client,
    rt: tokio::runtime::Runtime,
    status: Status,
}

impl Ctx {
    fn new(printer: &Printer, spec: &Path) -> anyhow::Result<Self> {
        let loaded = super::spec::load_valid(printer, spec)?;
        let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
        let client = Client::connect(&paths)?;
        let spec = loaded.spec;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let status = rt.block_on(client.get("/status"))?;
        Ok(Self {
            printer: *printer,
            spec,
            paths,
            client,
            rt,
            status,
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        Ok(self.rt.block_on(self.client.get(path))?)
    }

    /// Regions in release order: the primary, then the secondaries; or just the one asked for.
    fn regions(&self, only: Option<&str>) -> anyhow::Result<Vec<String>> {
        let mut names: Vec<(bool, String)> = self
            .status
            .regions
            .iter()
            .map(|r| (r.role != Role::Primary, r.name.clone()))
            .collect();
        names.sort();
        let names: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
        match only {
            Some(r) if names.iter().any(|n| n == r) => Ok(vec![r.to_owned()]),
            Some(r) => bail!("no region `{r}`; the spec has {}", names.join(", ")),
            None => Ok(names),
        }
    }

    fn service_name(&self, region: &str, environment: &str) -> anyhow::Result<String> {
        let r = self
            .status
            .regions
            .iter()
            .find(|r| r.name == region)
            .context("region vanished")?;
        if r.services.is_empty() {
            bail!(
                "region {region} is not running (state: {}); `haven chaos heal {region}` brings it back",
                r.state
            );
        }
        r.services
            .iter()
            .find(|s| s.environment == environment)
            .map(|s| s.name.clone())
            .with_context(|| format!("region {region} has no {environment} service"))
    }

    /// Starts a release and follows it, printing each step, until it ends.
    fn release(
        &self,
        region: &str,
        service: &str,
        image: &str,
        strategy: Option<Strategy>,
    ) -> anyhow::Result<Release> {
        // The region runs what its own registry holds: replicate the image there first.
        let image =
            &haven_pipeline::image::replicate(&self.spec, &self.paths, image, region)?.to_string();
        let request = StartRelease {
            image: image.to_owned(),
            strategy,
        };
        let started: ReleaseStarted = self.rt.block_on(self.client.send(
            Method::POST,
            &format!("/regions/{region}/services/{service}/releases"),
            &request,
        ))?;
        let id = started.release;
        self.printer.status(
            "Releasing",
            &format!("{image} to {service} in {region} ({id})"),
        );
        let mut shown = 0;
        loop {
            let r: Release = self.get(&format!("/regions/{region}/releases/{id}"))?;
            for s in r.steps.iter().skip(shown) {
                self.printer.status("", &s.step);
            }
            shown = r.steps.len();
            if r.state.is_final() {
                return Ok(r);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn reason(r: &Release) -> &str {
    r.reason.as_deref().unwrap_or("no reason recorded")
}

pub fn release(printer: &Printer, spec: &Path, args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    let mut results = Vec::new();
    for region in ctx.regions(args.region.as_deref())? {
        let service = ctx.service_name(&region, &args.environment)?;
        let r = ctx.release(&region, &service, &args.image, args.strategy)?;
        let succeeded = r.state == ReleaseState::Successful;
        let failure = (!succeeded).then(|| reason(&r).to_owned());
        results.push(r);
        if let Some(reason) = failure {
            if printer.json {
                printer.out_json(&results)?;
            }
            printer.error(&format!(
                "the release to {region} was rolled back: {reason}"
            ));
            if args.region.is_none() {
                printer.err_text("later regions were not touched");
            }
            return Ok(ExitCode::FAILURE);
        }
        printer.status(
            "Released",
            &format!("{} now runs {} in {region}", service, args.image),
        );
    }
    if printer.json {
        printer.out_json(&results)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(
    printer: &Printer,
    spec: &Path,
    region: Option<String>,
    environment: &str,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    for region in ctx.regions(region.as_deref())? {
        let service = ctx.service_name(&region, environment)?;
        let releases: Vec<Release> = ctx.get(&format!("/regions/{region}/releases"))?;
        let previous = releases
            .into_iter()
            .find(|r| r.service == service && r.state == ReleaseState::Successful)
            .map(|r| r.from_image);
        let Some(previous) = previous else {
            bail!("{service} in {region} has no successful release to roll back");
        };
        let r = ctx.release(&region, &service, &previous, Some(Strategy::BlueGreen))?;
        if r.state != ReleaseState::Successful {
            bail!("the rollback in {region} failed: {}", reason(&r));
        }
        printer.status(
            "Rolled back",
            &format!("{service} in {region} runs {previous} again"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    let mut all = Vec::new();
    for region in ctx.regions(None)? {
        let running = ctx
            .status
            .regions
            .iter()
            .any(|r| r.name == region && !r.services.is_empty());
        if !running {
            continue;
        }
        let releases: Vec<Release> = ctx.get(&format!("/regions/{region}/releases"))?;
        all.extend(releases.into_iter().map(|release| RegionRelease {
            release,
            region: region.clone(),
        }));
    }
    if printer.json {
        printer.out_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        printer.out("no releases yet");
    }
    for RegionRelease { release: r, region } in &all {
        let painted = match r.state {
            ReleaseState::Successful => printer.paint(Style::Good, r.state.as_str()),
            ReleaseState::RolledBack => printer.paint(Style::Bad, r.state.as_str()),
            ReleaseState::InProgress => r.state.to_string(),
        };
        printer.out(&format!(
            "{} {region} {} {painted}: {} -> {} ({})",
            r.id, r.service, r.from_image, r.to_image, r.strategy,
        ));
        for s in &r.steps {
            let at = s.at_ms.saturating_sub(r.started_at_ms);
            printer.out(&format!("  +{:>6.2}s  {}", at as f64 / 1000.0, s.step));
        }
        if let Some(reason) = &r.reason {
            printer.out(&format!("  reason: {reason}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
