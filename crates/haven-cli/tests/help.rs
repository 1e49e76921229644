//! Every command's `--help`, walked from clap's command tree: one snapshot per command path, so
//! any change to the CLI's words shows in review; and the dialect's rules, checked on every
//! command and flag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The binary's command line, compiled here too: it depends on nothing else of the binary.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

use clap::CommandFactory;

/// Every visible command, depth first, with its path from the root (`["haven", "image", "ls"]`).
fn walk<'c>(
    cmd: &'c clap::Command,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'c clap::Command)>,
) {
    path.push(cmd.get_name().to_owned());
    out.push((path.clone(), cmd));
    for sub in cmd.get_subcommands() {
        // Hidden commands are the twin's own processes and old spellings kept for scripts;
        // clap's `help` subcommand is clap's words.
        if !sub.is_hide_set() && sub.get_name() != "help" {
            walk(sub, path, out);
        }
    }
    path.pop();
}

/// The built tree: global flags propagated and usage lines complete, as the binary shows them.
fn tree() -> clap::Command {
    let mut cmd = cli::Cli::command().term_width(100);
    cmd.build();
    cmd
}

#[test]
fn every_commands_help() {
    let root = tree();
    let mut commands = Vec::new();
    walk(&root, &mut Vec::new(), &mut commands);
    assert!(
        commands.len() > 40,
        "only {} commands found",
        commands.len()
    );
    for (path, cmd) in commands {
        let help = cmd.clone().render_long_help().to_string();
        insta::assert_snapshot!(path.join("_"), help, &path.join(" "));
    }
}

/// The dialect: short help is one imperative fragment, capitalised, without a final period;
/// a listing is `ls` with `list` beside it; a duration is a duration string.
#[test]
fn every_command_and_flag_speaks_one_dialect() {
    let root = tree();
    let mut commands = Vec::new();
    walk(&root, &mut Vec::new(), &mut commands);
    let mut problems = Vec::new();
    for (path, cmd) in &commands {
        let path = path.join(" ");
        if path != "haven" {
            match cmd.get_about().map(ToString::to_string) {
                None => problems.push(format!("`{path}` has no help")),
                Some(about) => {
                    if let Some(p) = short_help_problem(&about) {
                        problems.push(format!("`{path}`: {p}: {about:?}"));
                    }
                }
            }
        }
        let names: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
        for listing in ["list", "lst", "all"] {
            if names.contains(&listing) {
                problems.push(format!("`{path} {listing}`: a listing is spelled `ls`"));
            }
        }
        if cmd.get_name() == "ls" && !cmd.get_visible_aliases().any(|a| a == "list") {
            problems.push(format!("`{path}` lacks the visible alias `list`"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || matches!(id, "help" | "version") {
                continue;
            }
            let Some(help) = arg.get_help().map(ToString::to_string) else {
                problems.push(format!("`{path}` {id}: no help"));
                continue;
            };
            if let Some(p) = short_help_problem(&help) {
                problems.push(format!("`{path}` {id}: {p}: {help:?}"));
            }
            // Flags say what they do ("Show ..."); positional values say what they are.
            let first = help.split_whitespace().next().unwrap_or_default();
            if arg.get_long().is_some() && matches!(first, "The" | "A" | "An" | "Only" | "When") {
                problems.push(format!(
                    "`{path}` --{id}: flag help is an imperative: {help:?}"
                ));
            }
            let duration_like = ["timeout", "since", "period", "time", "interval", "delay"]
                .iter()
                .any(|d| id.contains(d));
            let value_names: Vec<&str> = arg
                .get_value_names()
                .into_iter()
                .flatten()
                .map(|n| n.as_str())
                .collect();
            if duration_like && arg.get_long().is_some() && value_names != ["DURATION"] {
                problems.push(format!(
                    "`{path}` --{id}: a duration flag takes DURATION, not {value_names:?}"
                ));
            }
            for unit in ["MINUTES", "SECONDS", "SECS", "MS"] {
                if value_names.contains(&unit) {
                    problems.push(format!(
                        "`{path}` --{id}: bare {unit}; take a DURATION (`30s`, `10m`)"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What is wrong with a short help, if anything.
fn short_help_problem(help: &str) -> Option<&'static str> {
    let first = help.chars().next()?;
    if help.contains('\n') {
        return Some("short help is one line");
    }
    if !(first.is_uppercase() || first == '`') {
        return Some("short help starts with a capital");
    }
    if help.ends_with('.') {
        return Some("short help has no final period");
    }
    None
}

/// The old spellings that scripts rely on still parse, to the new commands.
#[test]
fn old_spellings_still_parse() {
    use clap::Parser;
    for args in [
        &["haven", "releases"][..],
        &["haven", "alarms"],
        &["haven", "alarms", "history", "hello-production-cpu"],
        &["haven", "logs"],
        &["haven", "release", "list"],
        &["haven", "image", "list"],
    ] {
        if let Err(e) = cli::Cli::try_parse_from(args) {
            panic!("{args:?}: {e}");
        }
    }
    let parsed = cli::Cli::try_parse_from(["haven", "release", "ls"]).unwrap();
    assert!(matches!(
        parsed.command,
        cli::Command::Release {
            command: Some(cli::ReleaseCommand::Ls),
            ..
        }
    ));
    let parsed =
        cli::Cli::try_parse_from(["haven", "release", "v2", "--strategy", "canary"]).unwrap();
    let cli::Command::Release { args, command, .. } = parsed.command else {
        panic!("not a release: {:?}", parsed.command);
    };
    assert!(command.is_none());
    assert_eq!(args.image.as_deref(), Some("v2"));
    assert_eq!(args.strategy, Some(cli::Strategy::Canary));
}

/// Flags live on the `aws` subcommands that use them, and durations are duration strings.
#[test]
fn flags_sit_where_they_are_used() {
    use clap::Parser;
    let accepted: &[&[&str]] = &[
        &[
            "haven",
            "aws",
            "deploy",
            "--yes",
            "--method",
            "direct",
            "--timeout",
            "30m",
        ],
        &["haven", "aws", "--region", "us-east-1", "status"],
        &[
            "haven",
            "aws",
            "status",
            "--region",
            "us-east-1",
            "--out",
            "out",
        ],
        &[
            "haven",
            "aws",
            "diff",
            "--parameter",
            "ImageTag=v1",
            "--timeout",
            "90s",
        ],
        &["haven", "aws", "destroy", "--yes", "--force"],
        &["haven", "logs", "/g", "--since", "10m"],
        &[
            "haven",
            "metrics",
            "get",
            "AWS/ECS",
            "CPUUtilization",
            "--period",
            "1m",
        ],
        &["haven", "cost", "--nat", "per-az", "--build-time", "8m"],
        &["haven", "rollback", "--environment", "staging"],
        // The spec's flag goes on either side of a subcommand, `ls` included.
        &["haven", "release", "--spec", "x.toml", "ls"],
        &["haven", "release", "ls", "--spec", "x.toml"],
        &[
            "haven",
            "logs",
            "-s",
            "x.toml",
            "ls",
            "--region",
            "us-east-1",
        ],
        &["haven", "alarm", "history", "x", "--spec", "x.toml"],
    ];
    for args in accepted {
        if let Err(e) = cli::Cli::try_parse_from(*args) {
            panic!("{args:?}: {e}");
        }
    }
    let refused: &[&[&str]] = &[
        // --force only destroys; --yes only where haven asks; --method only deploys.
        &["haven", "aws", "status", "--force"],
        &["haven", "aws", "--force", "destroy"],
        &["haven", "aws", "status", "--yes"],
        &["haven", "aws", "diff", "--method", "direct"],
        &["haven", "aws", "secret", "set", "X", "--timeout", "1m"],
        // Bare numbers are not durations.
        &["haven", "aws", "deploy", "--timeout", "30"],
        &["haven", "logs", "/g", "--since", "10"],
        // Choices are closed.
        &["haven", "release", "v2", "--strategy", "yolo"],
        &["haven", "cost", "--nat", "none"],
        &["haven", "release", "v2", "--environment", "dev"],
    ];
    for args in refused {
        assert!(
            cli::Cli::try_parse_from(*args).is_err(),
            "{args:?} was accepted"
        );
    }
}
