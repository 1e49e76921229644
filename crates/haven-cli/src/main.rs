//! The `haven` binary: parses the command line and hands each command to its module.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{
    AlarmsCommand, AwsCommand, AwsSecretCommand, Cli, Command, ImageCommand, MetricsCommand,
    SecretCommand, SourceCommand,
};
use crate::printer::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.json, cli.global.color, cli.global.quiet);
    let result = match cli.command {
        Command::Init { dir, force } => commands::init::run(&printer, &dir, force),
        Command::Validate(s) => commands::spec::validate(&printer, &s.spec),
        Command::Show(s) => commands::spec::show(&printer, &s.spec),
        Command::Build(s) => commands::build::run(&printer, &s.spec),
        Command::Image { spec, command } => {
            let spec = &spec.spec;
            match command {
                ImageCommand::Build { tag, env } => {
                    commands::image::build(&printer, spec, tag, env)
                }
                ImageCommand::Ls => commands::image::ls(&printer, spec),
                ImageCommand::Inspect { reference } => {
                    commands::image::inspect(&printer, spec, &reference)
                }
                ImageCommand::Tag { reference, tag } => {
                    commands::image::tag(&printer, spec, &reference, &tag)
                }
                ImageCommand::Rm { reference } => commands::image::rm(&printer, spec, &reference),
                ImageCommand::Scan { reference } => {
                    commands::image::scan(&printer, spec, &reference)
                }
                ImageCommand::Lifecycle { dry_run } => {
                    commands::image::lifecycle(&printer, spec, dry_run)
                }
            }
        }
        Command::Synth { spec, out } => commands::synth::run(&printer, &spec.spec, &out),
        Command::Cost { spec, args } => commands::cost::run(
            &printer,
            &spec.spec,
            commands::cost::CostArgs {
                arm64: args.arm64,
                spot_staging: args.spot_staging,
                nat: args.nat,
                nat_gb: args.nat_gb,
                log_gb: args.log_gb,
                lcu: args.lcu,
                builds_per_month: args.builds_per_month,
                build_minutes: args.build_minutes,
                image_gb: args.image_gb,
                images: args.images,
                spot_discount: args.spot_discount,
            },
        ),
        Command::Aws {
            spec,
            flags,
            command,
        } => {
            let opts = commands::aws::AwsOpts {
                regions: flags.regions,
                endpoint_url: flags.endpoint_url,
                yes: flags.yes,
                force: flags.force,
                method: flags.method,
                out: flags.out,
                parameters: flags.parameters,
                timeout_minutes: flags.timeout,
            };
            let spec = &spec.spec;
            match command {
                AwsCommand::Diff => commands::aws::diff(&printer, spec, &opts),
                AwsCommand::Deploy => commands::aws::deploy(&printer, spec, &opts),
                AwsCommand::Status => commands::aws::status(&printer, spec, &opts),
                AwsCommand::Destroy => commands::aws::destroy(&printer, spec, &opts),
                AwsCommand::Secret {
                    command: AwsSecretCommand::Set { name },
                } => commands::aws::secret_set(&printer, spec, &name, &opts),
            }
        }
        Command::Secret { spec, command } => match command {
            SecretCommand::Set { name } => commands::secret::set(&printer, &spec.spec, &name),
            SecretCommand::Ls => commands::secret::ls(&printer, &spec.spec),
            SecretCommand::Rm { name } => commands::secret::rm(&printer, &spec.spec, &name),
        },
        Command::Up(s) => commands::twin::up(&printer, &s.spec),
        Command::Down(s) => commands::twin::down(&printer, &s.spec),
        Command::Status(s) => commands::twin::status(&printer, &s.spec),
        Command::Reload(s) => commands::twin::reload(&printer, &s.spec),
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
        Command::Metrics {
            spec,
            command:
                MetricsCommand::Get {
                    namespace,
                    metric,
                    dims,
                    stats,
                    period,
                    since,
                    region,
                },
        } => commands::monitor::get(
            &printer,
            &spec.spec,
            commands::monitor::MetricsArgs {
                namespace,
                metric,
                dims,
                stats,
                period,
                since,
                region,
            },
        ),
        Command::Alarms {
            spec,
            command: None,
        } => commands::monitor::alarms(&printer, &spec.spec),
        Command::Alarms {
            spec,
            command: Some(AlarmsCommand::History { name, region }),
        } => commands::monitor::history(&printer, &spec.spec, &name, region.as_deref()),
        Command::Logs {
            spec,
            group,
            follow,
            since,
            grep,
            region,
        } => commands::logs::run(
            &printer,
            &spec.spec,
            commands::logs::LogsArgs {
                group,
                follow,
                since,
                grep,
                region,
            },
        ),
        Command::Pipeline { spec, command } => {
            commands::pipeline::run(&printer, &spec.spec, command)
        }
        Command::Source {
            spec,
            command: SourceCommand::Url,
        } => commands::pipeline::source_url(&printer, &spec.spec),
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
