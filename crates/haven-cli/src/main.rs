//! The `haven` binary: parses the command line and hands each command to its module.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{
    AlarmCommand, AwsCommand, AwsSecretCommand, Cli, Command, ImageCommand, LogsCommand,
    MetricsCommand, ReleaseCommand, ReleaseFlags, SecretCommand, SourceCommand,
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
                ImageCommand::Login { region, password } => {
                    commands::image::login(&printer, spec, region.as_deref(), password)
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
                nat: args.nat.map(Into::into),
                nat_gb: args.nat_gb,
                log_gb: args.log_gb,
                lcu: args.lcu,
                builds_per_month: args.builds_per_month,
                build_minutes: args.build_time.map(|d| d.0.as_secs_f64() / 60.0),
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
            // The flags of every `haven aws` command, then each command's own.
            let mut opts = commands::aws::AwsOpts {
                regions: flags.regions,
                endpoint_url: flags.endpoint_url,
                out: flags.out,
                ..commands::aws::AwsOpts::default()
            };
            let spec = &spec.spec;
            match command {
                AwsCommand::Diff {
                    parameters,
                    timeout,
                } => {
                    opts.parameters = parameters.parameters;
                    opts.timeout = timeout.timeout.map(Into::into);
                    commands::aws::diff(&printer, spec, &opts)
                }
                AwsCommand::Deploy {
                    yes,
                    method,
                    image_tag,
                    parameters,
                    timeout,
                } => {
                    opts.yes = yes.yes;
                    opts.method = method;
                    opts.image_tag = image_tag;
                    opts.parameters = parameters.parameters;
                    opts.timeout = timeout.timeout.map(Into::into);
                    commands::aws::deploy(&printer, spec, &opts)
                }
                AwsCommand::Status => commands::aws::status(&printer, spec, &opts),
                AwsCommand::Verify => commands::aws::verify(&printer, spec, &opts),
                AwsCommand::Failover { to, yes, force } => {
                    opts.yes = yes.yes;
                    opts.force = force;
                    commands::aws::failover(&printer, spec, Some(&to), &opts)
                }
                AwsCommand::Failback { yes } => {
                    opts.yes = yes.yes;
                    commands::aws::failover(&printer, spec, None, &opts)
                }
                AwsCommand::Destroy {
                    yes,
                    force,
                    timeout,
                } => {
                    opts.yes = yes.yes;
                    opts.force = force;
                    opts.timeout = timeout.timeout.map(Into::into);
                    commands::aws::destroy(&printer, spec, &opts)
                }
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
            command: Some(ReleaseCommand::Ls),
            ..
        }
        | Command::Releases(spec) => commands::release::list(&printer, &spec.spec),
        Command::Release {
            spec,
            args:
                ReleaseFlags {
                    image,
                    region,
                    strategy,
                    environment,
                },
            command: None,
        } => match image {
            Some(image) => commands::release::release(
                &printer,
                &spec.spec,
                commands::release::ReleaseArgs {
                    image,
                    region,
                    strategy: strategy.map(Into::into),
                    environment: environment.name().to_owned(),
                },
            ),
            // clap requires IMAGE when there is no subcommand.
            None => Err(anyhow::anyhow!("`haven release` needs an IMAGE")),
        },
        Command::Rollback {
            spec,
            region,
            environment,
        } => commands::release::rollback(&printer, &spec.spec, region, environment.name()),
        Command::Metrics {
            spec,
            command: MetricsCommand::Get(args),
        } => commands::monitor::get(&printer, &spec.spec, args),
        Command::Alarm {
            spec,
            command: AlarmCommand::Ls,
        }
        | Command::Alarms {
            spec,
            command: None | Some(AlarmCommand::Ls),
        } => commands::monitor::alarms(&printer, &spec.spec),
        Command::Alarm {
            spec,
            command: AlarmCommand::History { name, region },
        }
        | Command::Alarms {
            spec,
            command: Some(AlarmCommand::History { name, region }),
        } => commands::monitor::history(&printer, &spec.spec, &name, region.as_deref()),
        Command::Logs {
            spec,
            command: Some(LogsCommand::Ls { region }),
            ..
        } => commands::logs::run(
            &printer,
            &spec.spec,
            commands::logs::LogsArgs {
                group: None,
                follow: false,
                since: None,
                grep: None,
                region,
            },
        ),
        Command::Logs {
            spec,
            args,
            command: None,
        } => commands::logs::run(
            &printer,
            &spec.spec,
            commands::logs::LogsArgs {
                group: args.group,
                follow: args.follow,
                since: args.since,
                grep: args.grep,
                region: args.region,
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
        Command::Drill { spec, command } => commands::drill::run(&printer, &spec.spec, command),
        Command::Net { spec, command } => commands::net::run(&printer, &spec.spec, command),
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
