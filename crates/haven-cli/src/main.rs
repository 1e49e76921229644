//! The `haven` binary: parses the command line and hands each command to its module.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::printer::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.json, cli.global.color, cli.global.quiet);
    let result = match cli.command {
        Command::Init { dir, force } => commands::init::run(&printer, &dir, force),
        Command::Validate(s) => commands::spec::validate(&printer, &s.spec),
        Command::Show(s) => commands::spec::show(&printer, &s.spec),
        Command::Build(s) => commands::build::run(&printer, &s.spec),
        Command::Up(s) => commands::twin::up(&printer, &s.spec),
        Command::Down(s) => commands::twin::down(&printer, &s.spec),
        Command::Status(s) => commands::twin::status(&printer, &s.spec),
        Command::Release {
            spec,
            image,
            region,
            strategy,
            environment,
        } => commands::release::release(
            &printer,
            &spec.spec,
            commands::release::ReleaseArgs {
                image,
                region,
                strategy,
                environment,
            },
        ),
        Command::Rollback {
            spec,
            region,
            environment,
        } => commands::release::rollback(&printer, &spec.spec, region, &environment),
        Command::Releases(s) => commands::release::list(&printer, &s.spec),
        Command::Chaos { spec, command } => commands::twin::chaos(&printer, &spec.spec, command),
        Command::Internal { command } => commands::internal::run(command),
        Command::Completions { shell } => commands::completions(shell),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
