//! One module per command.

pub mod aws;
pub mod build;
pub mod cost;
pub mod drill;
pub mod image;
pub mod init;
pub mod internal;
pub mod logs;
pub mod monitor;
pub mod net;
pub mod pipeline;
pub mod release;
pub mod secret;
pub mod spec;
pub mod synth;
pub mod twin;

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "haven", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// The async runtime of a command that drives the twin: two workers, timers and I/O.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
