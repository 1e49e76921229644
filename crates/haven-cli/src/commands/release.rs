//! `haven release`, `haven rollback` and `haven releases`: blue/green releases on the twin.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_twin::api::Status;
use haven_twin::supervisor::Client;
use haven_twin::{Paths, api};
use http::Method;
use serde_json::Value;

use crate::printer::{Printer, Style};

pub struct ReleaseArgs {
    pub image: String,
    pub region: Option<String>,
    pub strategy: Option<haven_spec::model::Strategy>,
    pub environment: String,
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
        let status: Status =
            serde_json::from_value(rt.block_on(client.call(Method::GET, "/status", None))?)
                .context("the supervisor's status is not in the expected shape")?;
        Ok(Self {
            printer: *printer,
            spec,
            paths,
            client,
            rt,
            status,
        })
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        Ok(self.rt.block_on(self.client.call(method, path, body))?)
    }

    /// Regions in release order: the primary, then the secondaries; or just the one asked for.
    fn regions(&self, only: Option<&str>) -> anyhow::Result<Vec<String>> {
        let mut names: Vec<(bool, String)> = self
            .status
            .regions
            .iter()
            .map(|r| (r.role != "primary", r.name.clone()))
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

    /// Starts a release and follows it, printing each step; true when it succeeded.
    fn release(
        &self,
        region: &str,
        service: &str,
        image: &str,
        strategy: Option<haven_spec::model::Strategy>,
    ) -> anyhow::Result<(bool, Value)> {
        // The region runs what its own registry holds: replicate the image there first.
        let image =
            &haven_pipeline::image::replicate(&self.spec, &self.paths, image, region)?.to_string();
        // The control API takes the spec's spelling of a strategy, which is its serde form.
        let strategy = strategy
            .map(serde_json::to_value)
            .transpose()?
            .and_then(|v| v.as_str().map(str::to_owned));
        let body = serde_json::to_value(api::StartRelease {
            image: image.to_owned(),
            strategy,
        })?;
        let started = self.call(
            Method::POST,
            &format!("/regions/{region}/services/{service}/releases"),
            Some(body),
        )?;
        let id = started["release"]
            .as_str()
            .context("the region did not say which release it started")?
            .to_owned();
        self.printer.status(
            "Releasing",
            &format!("{image} to {service} in {region} ({id})"),
        );
        let mut shown = 0;
        loop {
            let r = self.call(
                Method::GET,
                &format!("/regions/{region}/releases/{id}"),
                None,
            )?;
            let steps = r["steps"].as_array().cloned().unwrap_or_default();
            for s in steps.iter().skip(shown) {
                self.printer
                    .status("", s["step"].as_str().unwrap_or_default());
            }
            shown = steps.len();
            match r["state"].as_str() {
                Some("SUCCESSFUL") => return Ok((true, r)),
                Some("ROLLED_BACK") => return Ok((false, r)),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

pub fn release(printer: &Printer, spec: &Path, args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    let mut results = Vec::new();
    for region in ctx.regions(args.region.as_deref())? {
        let service = ctx.service_name(&region, &args.environment)?;
        let (ok, r) = ctx.release(&region, &service, &args.image, args.strategy)?;
        results.push(r.clone());
        if !ok {
            let reason = r["reason"].as_str().unwrap_or("no reason recorded");
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
        let releases = ctx.call(Method::GET, &format!("/regions/{region}/releases"), None)?;
        let previous = releases
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["service"] == service.as_str() && r["state"] == "SUCCESSFUL")
            .and_then(|r| r["from_image"].as_str().map(str::to_owned));
        let Some(previous) = previous else {
            bail!("{service} in {region} has no successful release to roll back");
        };
        let (ok, r) = ctx.release(
            &region,
            &service,
            &previous,
            Some(haven_spec::model::Strategy::BlueGreen),
        )?;
        if !ok {
            bail!(
                "the rollback in {region} failed: {}",
                r["reason"].as_str().unwrap_or("no reason recorded")
            );
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
        let releases = ctx.call(Method::GET, &format!("/regions/{region}/releases"), None)?;
        for mut r in releases.as_array().cloned().unwrap_or_default() {
            r["region"] = Value::String(region.clone());
            all.push(r);
        }
    }
    if printer.json {
        printer.out_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        printer.out("no releases yet");
    }
    for r in &all {
        let state = r["state"].as_str().unwrap_or_default();
        let painted = match state {
            "SUCCESSFUL" => printer.paint(Style::Good, state),
            "ROLLED_BACK" => printer.paint(Style::Bad, state),
            s => s.to_owned(),
        };
        printer.out(&format!(
            "{} {} {} {}: {} -> {} ({})",
            r["id"].as_str().unwrap_or_default(),
            r["region"].as_str().unwrap_or_default(),
            r["service"].as_str().unwrap_or_default(),
            painted,
            r["from_image"].as_str().unwrap_or_default(),
            r["to_image"].as_str().unwrap_or_default(),
            r["strategy"].as_str().unwrap_or_default(),
        ));
        let start = r["started_at_ms"].as_u64().unwrap_or(0);
        for s in r["steps"].as_array().into_iter().flatten() {
            let at = s["at_ms"].as_u64().unwrap_or(start).saturating_sub(start);
            printer.out(&format!(
                "  +{:>6.2}s  {}",
                at as f64 / 1000.0,
                s["step"].as_str().unwrap_or_default()
            ));
        }
        if let Some(reason) = r["reason"].as_str() {
            printer.out(&format!("  reason: {reason}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
