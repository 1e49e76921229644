//! The twin's own processes: `haven internal region|edge|pipeline`, started by `haven up`.

use std::process::ExitCode;

use anyhow::Context;
use haven_twin::edge::{self, EdgeArgs};
use haven_twin::region::{self, RegionArgs};

use crate::cli::InternalCommand;

pub fn run(command: InternalCommand) -> anyhow::Result<ExitCode> {
    // These processes log to files the supervisor gives them; info level tells a drill's story.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAVEN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        InternalCommand::Region { region, spec } => rt
            .block_on(region::run(RegionArgs {
                spec,
                region: region.clone(),
            }))
            .with_context(|| format!("region {region}"))?,
        InternalCommand::Edge { spec } => {
            rt.block_on(edge::run(EdgeArgs { spec })).context("edge")?
        }
        InternalCommand::Pipeline { spec } => rt
            .block_on(haven_pipeline::run(haven_pipeline::PipelineArgs { spec }))
            .context("pipeline")?,
    }
    Ok(ExitCode::SUCCESS)
}
