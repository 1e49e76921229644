//! The command line: every command and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::printer::ColorChoice;

/// haven: one small spec, a highly available two-region web architecture, on AWS or on this
/// machine.
#[derive(Debug, Parser)]
#[command(
    name = "haven",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Print data as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to colour output; NO_COLOR is honoured by `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print no progress, only data and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SpecArg {
    /// The spec file.
    #[arg(long, short = 's', default_value = "haven.toml", env = "HAVEN_SPEC")]
    pub spec: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a working project: a commented haven.toml and the example service.
    Init {
        /// Where to create the project.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing haven.toml (other files are overwritten only with this too).
        #[arg(long)]
        force: bool,
    },
    /// Check a spec and report every problem at once (exit 0 valid, 1 invalid, 2 usage).
    Validate(SpecArg),
    /// Print the fully resolved spec, with every default filled in.
    Show(SpecArg),
    /// Run the spec's buildspec with the CodeBuild twin; the result becomes the current build.
    Build(SpecArg),
    /// Run the whole architecture on this machine: both regions, ALBs, tasks, edge router.
    Up(SpecArg),
    /// Stop a running twin: stop routing, drain, stop tasks.
    Down(SpecArg),
    /// Show the running twin: edge, regions, services, tasks.
    Status(SpecArg),
    /// Release an image to the running twin (blue/green by default), region by region.
    Release {
        #[command(flatten)]
        spec: SpecArg,
        /// The image: a tag or digest in the registry (or a build id).
        image: String,
        /// Only this region (default: the primary, then each secondary).
        #[arg(long)]
        region: Option<String>,
        /// Override the spec's strategy.
        #[arg(long, value_parser = ["blue-green", "canary", "linear", "rolling"])]
        strategy: Option<String>,
        /// The environment to release to.
        #[arg(long, default_value = "production", value_parser = ["production", "staging"])]
        environment: String,
    },
    /// Return to the image before the last successful release.
    Rollback {
        #[command(flatten)]
        spec: SpecArg,
        #[arg(long)]
        region: Option<String>,
        #[arg(long, default_value = "production", value_parser = ["production", "staging"])]
        environment: String,
    },
    /// The release history with each step's time.
    Releases(SpecArg),
    /// Disaster drills on the running twin.
    Chaos {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: ChaosCommand,
    },
    /// The twin's own processes (started by `haven up`).
    #[command(hide = true)]
    Internal {
        #[command(subcommand)]
        command: InternalCommand,
    },
    /// Print shell completions for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL one task (by id or prefix, or the first in an AZ); the service replaces it.
    KillTask {
        /// The region (default: the primary).
        #[arg(long)]
        region: Option<String>,
        /// Pick a task in this AZ.
        #[arg(long)]
        az: Option<String>,
        /// The task id or a prefix of it.
        task: Option<String>,
    },
    /// Lose an AZ: kill its tasks and keep it down until `haven chaos heal`.
    KillAz { region: String, az: String },
    /// SIGKILL a region's whole process group; it stays down until `haven chaos heal`.
    KillRegion { region: String },
    /// Bring back killed regions and AZs (all, or one region's).
    Heal { region: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum InternalCommand {
    /// A region process.
    Region {
        region: String,
        #[arg(long)]
        spec: PathBuf,
    },
    /// The edge router process.
    Edge {
        #[arg(long)]
        spec: PathBuf,
    },
}
